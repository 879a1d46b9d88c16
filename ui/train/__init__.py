"""The Train screen: the settings form, the data picker, the live run (in a thread or a worker process), its
results, health and insides, the run history, Compare and the learning-rate finder."""
