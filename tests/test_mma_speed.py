"""MMA's speed switches (docs/SPEED.md) give the numbers they promise on the golden tiny CLIP:
text truncation and the frozen-prefix cache against the switches off, evaluation under autocast
within the documented difference, and torch.compile wiring."""
import pytest
import torch
import torch.nn.functional as F

from clip.model import build_model
from mma_helpers import mma_cfg, relative_error
from trainers.kit.compiling import check_compile
from trainers.kit.text_prefix import FrozenTextPrefix, used_context_length
from trainers.mmadapter import CustomCLIP

CASES = ["top_layers", "from_embedding"]
ALL_OFF = dict(TEXT_TRUNCATE=False, TEXT_PREFIX_CACHE=False)


def build(mma_golden, case_name, **switches):
    case = mma_golden["cases"][case_name]
    hparams = dict(case["hparams"], **switches)
    model = CustomCLIP(mma_cfg(hparams), mma_golden["classnames"], build_model(mma_golden["clip_state_dict"]).float())
    model.adapter_learner.load_adapter_state_dict(case["adapter_state_dict"], source="golden")
    return model


def train_step(model, mma_golden):
    """Train-mode logits and adapter gradients of one forward/backward on the golden batch."""
    model.adapter_learner.train()
    logits = model(mma_golden["images"])
    F.cross_entropy(logits, mma_golden["labels"]).backward()
    return logits.detach(), {n: p.grad.clone() for n, p in model.adapter_learner.named_parameters()}


def eval_logits(model, mma_golden):
    model.adapter_learner.eval()
    with torch.no_grad():
        return model(mma_golden["images"])


@pytest.mark.parametrize("case", CASES)
def test_prefix_cache_is_bitwise_exact(mma_golden, case):
    off = build(mma_golden, case, **ALL_OFF)
    on = build(mma_golden, case, TEXT_TRUNCATE=False, TEXT_PREFIX_CACHE=True)
    (logits_off, grads_off), (logits_on, grads_on) = train_step(off, mma_golden), train_step(on, mma_golden)
    assert torch.equal(logits_on, logits_off)
    assert all(torch.equal(grads_on[name], grads_off[name]) for name in grads_off)
    assert torch.equal(eval_logits(on, mma_golden), eval_logits(off, mma_golden))
    first_block = mma_golden["cases"][case]["hparams"]["ADAPTER_START"]
    assert (on.text_prefix is None) == (first_block == 0)


@pytest.mark.parametrize("case", CASES)
def test_truncation_equals_the_full_context_up_to_rounding(mma_golden, case):
    """Cutting 77 positions to the longest prompt changes only the summation order (measured:
    logits within 2e-6, gradients within 5e-6 relative), and both stay on the golden numbers."""
    golden = mma_golden["cases"][case]
    off = build(mma_golden, case, **ALL_OFF)
    on = build(mma_golden, case)
    eot = golden["tokenized_prompts"].argmax(dim=-1)
    assert on.text_length == int(eot.max()) + 1 == 15 and off.text_length == 77
    (logits_off, grads_off), (logits_on, grads_on) = train_step(off, mma_golden), train_step(on, mma_golden)
    assert relative_error(logits_on, logits_off) < 1e-5
    for name, grad in grads_off.items():
        assert relative_error(grads_on[name], grad) < 2e-5, name
    assert relative_error(eval_logits(on, mma_golden), eval_logits(off, mma_golden)) < 1e-5
    assert relative_error(logits_off, golden["train_logits"]) < 1e-4
    for name, grad in golden["adapter_grads"].items():
        assert relative_error(grads_off[name], grad) < 1e-4, name


def test_used_context_length_reads_the_last_end_of_text():
    tokens = torch.zeros(3, 77, dtype=torch.long)
    tokens[0, :4] = torch.tensor([49406, 10, 11, 49407])
    tokens[1, :7] = torch.tensor([49406, 10, 11, 12, 13, 14, 49407])
    tokens[2, :3] = torch.tensor([49406, 10, 49407])
    assert used_context_length(tokens) == 7


def test_the_prefix_is_computed_once_and_follows_the_frozen_weights(mma_golden):
    model = build(mma_golden, "top_layers")
    train_step(model, mma_golden)
    cached = model.text_prefix._hidden
    train_step(model, mma_golden)
    assert model.text_prefix._hidden is cached and not cached.requires_grad
    with torch.no_grad():
        model.clip_model.transformer.resblocks[0].mlp.c_fc.bias.add_(0.5)
    changed = eval_logits(model, mma_golden)
    assert model.text_prefix._hidden is not cached
    reference = build(mma_golden, "top_layers", **ALL_OFF)
    reference.clip_model.load_state_dict(model.clip_model.state_dict())
    torch.testing.assert_close(changed, eval_logits(reference, mma_golden), rtol=1e-5, atol=1e-5)


def test_the_prefix_refuses_an_embedding_level_adapter():
    with pytest.raises(ValueError, match="embedding level"):
        FrozenTextPrefix(0)


@pytest.mark.parametrize("eval_prec, max_cosine_error", [("bf16", 1e-2), ("fp16", 2e-3)])
def test_eval_under_autocast_stays_close_to_fp32(mma_golden, eval_prec, max_cosine_error):
    """On the golden inputs (logit scale 14.3; measured over both cases): bf16 moves a logit by at
    most 0.071 (5.0e-3 in cosine), fp16 by at most 0.012 (8.7e-4); the predicted classes do not
    change. The eval text cache is recomputed under the new setting and the fp32 one comes back."""
    from trainers.kit.precision import inference_autocast

    for case in CASES:
        model = build(mma_golden, case)
        reference = eval_logits(model, mma_golden)
        fp32_text = model.text_features()
        with torch.no_grad(), inference_autocast(eval_prec, torch.device("cpu")):
            logits = model(mma_golden["images"]).float()
            assert model.text_features() is not fp32_text
        cosine_error = ((logits - reference).abs().max() / model.clip_model.logit_scale.exp()).item()
        assert 0 < cosine_error < max_cosine_error
        assert torch.equal(logits.argmax(dim=1), reference.argmax(dim=1))
        assert torch.equal(model.text_features(), fp32_text)


def test_an_unknown_eval_precision_names_the_key():
    from trainers.kit.precision import check_eval_precision

    with pytest.raises(ValueError, match="TRAINER.MMADAPTER.EVAL_PREC is 'half'; it must be one of fp32, bf16, fp16"):
        check_eval_precision("half", "TRAINER.MMADAPTER.EVAL_PREC")


def test_compiled_encoders_give_the_same_numbers(mma_golden):
    """The COMPILE wiring in training and evaluation, with the eager backend (dynamo only, no code generation)."""
    plain = build(mma_golden, "top_layers")
    compiled = build(mma_golden, "top_layers")
    compiled.compile_encoders("default", backend="eager")
    (logits_plain, grads_plain), (logits_compiled, grads_compiled) = (
        train_step(plain, mma_golden), train_step(compiled, mma_golden))
    assert torch.equal(logits_compiled, logits_plain)
    assert all(torch.equal(grads_compiled[n], grads_plain[n]) for n in grads_plain)
    assert torch.equal(eval_logits(compiled, mma_golden), eval_logits(plain, mma_golden))


def _has_cpu_compiler() -> bool:
    try:
        check_compile("default", "inductor", torch.device("cpu"), "TRAINER.MMADAPTER")
    except ValueError:
        return False
    return True


@pytest.mark.skipif(not _has_cpu_compiler(), reason="inductor needs a C++ compiler on the CPU; none on PATH")
def test_inductor_compiled_training_step_stays_on_the_golden_numbers(mma_golden):
    """The real compiler (inductor, here its CPU code generator): one training step, since a compile
    takes about 40 s on two cores. Inductor fuses and reorders, so the numbers move by rounding only
    (measured: logits 8e-7, gradients 3e-6 relative) and stay on the reference's golden ones."""
    golden = mma_golden["cases"]["top_layers"]
    plain = build(mma_golden, "top_layers")
    compiled = build(mma_golden, "top_layers")
    compiled.compile_encoders("default", backend="inductor")
    (logits_plain, grads_plain), (logits_compiled, grads_compiled) = (
        train_step(plain, mma_golden), train_step(compiled, mma_golden))
    assert relative_error(logits_compiled, logits_plain) < 1e-5
    assert relative_error(logits_compiled, golden["train_logits"]) < 1e-4
    for name, grad in grads_plain.items():
        assert relative_error(grads_compiled[name], grad) < 2e-5, name
        assert relative_error(grads_compiled[name], golden["adapter_grads"][name]) < 1e-4, name


@pytest.mark.parametrize("mode, backend, message", [
    ("fast", "inductor", r"TRAINER.MMADAPTER.COMPILE is 'fast'; use '' \(off\) or a torch.compile mode: default, .*reduce-overhead"),
    ("default", "inductr", r"TRAINER.MMADAPTER.COMPILE_BACKEND is 'inductr'; torch knows .*inductor"),
])
def test_a_wrong_compile_mode_or_backend_names_the_key(mode, backend, message):
    with pytest.raises(ValueError, match=message):
        check_compile(mode, backend, torch.device("cpu"), "TRAINER.MMADAPTER")


def test_inductor_on_a_cpu_without_a_compiler_says_how_to_fix_it(monkeypatch):
    import torch._inductor.config

    monkeypatch.setattr(torch._inductor.config.cpp, "cxx", (None, "no-such-cxx"))
    with pytest.raises(ValueError, match=r"no compiler \(no-such-cxx\) is on PATH.*COMPILE '' to run eagerly"):
        check_compile("default", "inductor", torch.device("cpu"), "TRAINER.MMADAPTER")
    check_compile("default", "aot_eager", torch.device("cpu"), "TRAINER.MMADAPTER")


def test_the_trainer_evaluates_under_eval_prec_and_checks_it(tmp_path, tiny_clip_checkpoint, repo_root):
    from dassl.engine import build_trainer
    from mma_helpers import mma_trainer_cfg, write_colour_images

    write_colour_images(tmp_path / "data", "train", per_class=1, seed=0)
    write_colour_images(tmp_path / "data", "test", per_class=1, seed=1)

    def trainer(eval_prec):
        cfg = mma_trainer_cfg(tmp_path / "data", tmp_path / "run", tiny_clip_checkpoint, repo_root,
                              ["TRAINER.MMADAPTER.EVAL_PREC", eval_prec])
        cfg.freeze()
        return build_trainer(cfg)

    with pytest.raises(ValueError, match="TRAINER.MMADAPTER.EVAL_PREC is 'int8'"):
        trainer("int8")
    bf16 = trainer("bf16")
    bf16.set_model_mode("eval")
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits = bf16.model_inference(images)
        reference = bf16.model(images)
    assert logits.dtype == torch.float32 and not torch.equal(logits, reference)
    torch.testing.assert_close(logits, reference, rtol=0, atol=0.1)


def test_the_trainer_checks_compile_before_loading_clip(tmp_path, repo_root, capsys):
    from dassl.engine import build_trainer
    from mma_helpers import mma_trainer_cfg, write_colour_images

    write_colour_images(tmp_path / "data", "train", per_class=1, seed=0)
    write_colour_images(tmp_path / "data", "test", per_class=1, seed=1)
    cfg = mma_trainer_cfg(tmp_path / "data", tmp_path / "run", str(tmp_path / "absent-clip.pt"), repo_root,
                          ["TRAINER.MMADAPTER.COMPILE", "reduce_overhead"])
    cfg.freeze()
    with pytest.raises(ValueError, match="TRAINER.MMADAPTER.COMPILE is 'reduce_overhead'"):
        build_trainer(cfg)
    assert "Loading CLIP" not in capsys.readouterr().out
