// Runs once when the server starts: binds the traversal source `g` over `graph`, so bytecode
// requests (which name their traversal source) and script requests both find it. No schema is
// created here: JanusGraph's default schema maker creates labels and property keys on first use.
def globals = [:]
globals << [g : graph.traversal()]
