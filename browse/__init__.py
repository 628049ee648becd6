"""`videolights browse`: a local web viewer over the pipeline's outputs.

It reads synthetic sets (Parquet shards), submissions and their ground truth (JSONL) and the
videos they are about, and answers a new query with a checkpoint (`model.predict`). It writes
nothing but its feature cache. Nothing imports browse, and browse imports no flow.
"""
