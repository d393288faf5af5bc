// Runs once when the server starts: binds the traversal source `g` over `graph`, and indexes the
// numeric `id` property the social-network queries read (TinkerGraph has no index by default).
//
// The edge index is there for the transactions, not for queries: TinkerTransactionGraph 3.7.5
// rolls a transaction back through both indexes but, when a vertex index exists, checks the
// vertex index twice and calls the edge index without looking. With a vertex index and no edge
// index, every rollback (a failed write, a conflict, a client gone mid-answer) throws a
// NullPointerException half-way, leaves the transaction's state behind, and the server stops
// answering. The key indexed here is one no edge carries, so the index costs nothing.
def globals = [:]
graph.createIndex('id', Vertex.class)
graph.createIndex('rollbackGuard', Edge.class)
globals << [g : traversal().withEmbedded(graph)]
