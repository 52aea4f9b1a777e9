"""Scale-out: running jobs on a Ray cluster. Ray is the optional `ray` extra; nothing here imports it until a
job is really sent to a cluster, so the embedded path never loads it."""
