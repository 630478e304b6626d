"""The matcher runtime: engine, Segment Spec events, sources and sinks."""
