"""bench.cluster: the same `sleep 1` bucket through a real single-node Slurm cluster and locally."""
