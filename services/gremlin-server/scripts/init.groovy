// Runs once when the server starts: binds the traversal source `g` over `graph`, and indexes the
// numeric `id` property the social-network queries read (TinkerGraph has no index by default).
def globals = [:]
graph.createIndex('id', Vertex.class)
globals << [g : traversal().withEmbedded(graph)]
