"""The pieces of tools/sweep.py: a YAML grid, its runs, and the back-ends that run them.

spec (the YAML file) -> methods (each method's names, read from its scripts/<method>/settings.sh)
-> grid (the runs, with the scripts' folders and train.py arguments) -> local / slurm / print
back-ends; runs (a run's state on disk and how one is executed) and status (the progress view).
"""
