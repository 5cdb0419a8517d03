"""HOW a candidate is trained and measured: data, training loops, measurements, executors."""
