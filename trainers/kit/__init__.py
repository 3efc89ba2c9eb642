"""The shared building blocks of the methods: the public API a method may use.

A method imports these names from their modules (``from trainers.kit.training import LearnerTrainer``);
everything else in the kit, and every ``_``-prefixed name, may change without notice. Nothing here
belongs to one method. docs/ADDING_A_METHOD.md walks through a new method built on them.

Loading CLIP
- ``backbone``: ``load_backbone``, ``load_clip``, ``check_precision``, ``effective_precision``,
  ``PRECISIONS``, ``check_input_size``, ``require_vit``, ``freeze_except``: the backbone a config
  names, in the precision the device allows, frozen except the learner.
- ``shared_backbone``: ``backbone_for``, ``shared_backbones``, ``SharedBackbones``: one frozen CLIP
  for many runs in one process, giving the numbers of separate runs.
- ``init_replay``: ``InitReplay``, ``default_replay``: build CLIP without drawing its random
  initialisation while leaving torch's generator where the draw would.

Training and checkpoints
- ``training``: ``LearnerTrainer`` (a frozen CLIP wrapped by the method's ``CustomCLIP``, one learner
  optimised with cross-entropy), ``optimisation_step`` (one step in fp16 / fp32 / amp),
  ``make_grad_scaler``.
- ``checkpoints``: ``load_learners``, ``learner_checkpoints``, ``load_learned_state``,
  ``key_mismatches``, ``checkpoint_file``: strict learner loading that names every missing,
  unexpected or mis-shaped key and ignores buffers derived from the class names.

Prompts and features
- ``prompting``: ``initial_context``, ``class_prompt_tokens``, ``token_order``,
  ``CLASS_TOKEN_POSITIONS``: learned-context prompts in token space (CoOp's layout).
- ``templates``: ``DATASET_TEMPLATES``, ``dataset_template``, ``ensemble_templates``,
  ``fill_template``: CoOp's hand-written prompt templates.
- ``text_cache``: ``TextFeatureCache``: eval-mode text features reused until the learner changes.
- ``feature_cache``: ``EmbeddingStore``, ``EmbeddingBatches``, ``embedding_loader``, ``encode_split``,
  ``train_images_are_fixed``, ``test_images_are_fixed``: final image embeddings encoded once.
- ``text_prefix``: ``FrozenTextPrefix``, ``used_context_length``, ``autocast_state``,
  ``tensor_versions``: the exact text-side savings for fixed prompts (truncation, the frozen blocks
  below the first adapted one).

Side branches and speed switches (opt-in; docs/SPEED.md)
- ``branched_clip``: ``BranchedCLIP``, ``add_speed_keys``, ``check_speed_keys``, ``SPEED_DEFAULTS``:
  a frozen CLIP carrying a learner's side branches in both towers, scored against fixed prompts,
  with every speed switch of such a method (truncation, frozen prefix, eval precision, compile, eval
  text cache) in one place, named by keys of the method's node.
- ``precision``: ``EVAL_PRECISIONS``, ``check_eval_precision``, ``inference_autocast``: evaluation
  under autocast.
- ``compiling``: ``check_compile``: torch.compile settings checked when the model is built.
"""
