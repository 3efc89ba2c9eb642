"""The shared building blocks a method may use: its public API (docs/ADDING_A_METHOD.md).

- ``backbone``: load CLIP for a trainer, precision checks, freezing.
- ``shared_backbone``, ``init_replay``: one CLIP per process across runs, replayed random init.
- ``training``: ``LearnerTrainer`` (build, step, summary) and the optimisation step with amp.
- ``checkpoints``: learner checkpoint files, strict loading with clear key errors.
- ``prompting``, ``templates``: prompt tokens, learned context init, CoOp's hand-crafted templates.
- ``text_cache``, ``feature_cache``: cached text features and stored image embeddings.
- ``precision``, ``compiling``, ``text_prefix``: evaluation precision, torch.compile checks, the frozen
  text prefix below the first adapted block.
"""
