"""MMA's adapter modules on their own: gradient-scale behaviour, initialisation, structure."""
import math

import pytest
import torch
from torch import nn

from trainers.mmadapter import MultiModalAdapters, scale_gradient


def _adapters(start=0, end=2, scale=0.25, shared=True, seed=0):
    torch.manual_seed(seed)
    return MultiModalAdapters(text_width=12, visual_width=20, start=start, end=end, bottleneck=6,
                              scale=scale, shared=shared)


def test_scale_gradient_is_identity_forward_and_scales_backward():
    x = torch.randn(5, requires_grad=True)
    y = scale_gradient(x, 3.0)
    assert torch.equal(y, x)
    y.sum().backward()
    assert torch.equal(x.grad, torch.full((5,), 3.0))


def _plain_branch(adapters, key, modality, h):
    """The adapter branch written out with no gradient-scale layer: true gradients."""
    adapter = getattr(adapters, modality)[key]
    z = torch.relu(adapter.down[0](h))
    if adapters.shared_adapter is not None:
        z = torch.relu(adapters.shared_adapter[key][0](z))
    return adapters.scale * adapter.up(z)


@pytest.mark.parametrize("index", [0, 2])
@pytest.mark.parametrize("modality", ["text_adapter", "visual_adapter"])
def test_branch_gradients_follow_the_gradient_scale_layer(index, modality):
    """Above index 0: adapter grads = true grad / scale, input grad exact; at index 0 all exact."""
    adapters = _adapters()
    width = 12 if modality == "text_adapter" else 20
    x = torch.randn(3, 4, width)
    weight = torch.randn(3, 4, width)
    branches = adapters.text_branches() if modality == "text_adapter" else adapters.visual_branches()

    def grads(compute):
        adapters.zero_grad()
        h = x.clone().requires_grad_(True)
        out = compute(h)
        (out * weight).sum().backward()
        return out.detach(), h.grad.clone(), {n: p.grad.clone() for n, p in adapters.named_parameters()
                                               if p.grad is not None}

    out, h_grad, param_grads = grads(lambda h: branches[index](h, h))
    ref_out, ref_h_grad, ref_param_grads = grads(lambda h: _plain_branch(adapters, str(index), modality, h))
    factor = 1.0 if index == 0 else 1.0 / adapters.scale
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h_grad, ref_h_grad)
    assert set(param_grads) == set(ref_param_grads)
    assert all(f".{index}." in name for name in param_grads)
    for name, grad in param_grads.items():
        torch.testing.assert_close(grad, factor * ref_param_grads[name])


def test_init_is_kaiming_normal_fan_out_with_zero_bias():
    torch.manual_seed(0)
    adapters = MultiModalAdapters(text_width=512, visual_width=768, start=1, end=4, bottleneck=32, scale=0.001)
    linears = [m for m in adapters.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 4 * 5
    for linear in linears:
        assert torch.count_nonzero(linear.bias) == 0
    for name, expected_std in [("text_adapter", math.sqrt(2 / 512)), ("visual_adapter", math.sqrt(2 / 768))]:
        ups = torch.cat([m.up.weight.flatten() for m in getattr(adapters, name).values()])
        downs = torch.cat([m.down[0].weight.flatten() for m in getattr(adapters, name).values()])
        assert ups.std().item() == pytest.approx(expected_std, rel=0.03)
        assert downs.std().item() == pytest.approx(0.25, rel=0.03)
        assert ups.mean().abs().item() < 0.05 * expected_std
    shared = torch.cat([m[0].weight.flatten() for m in adapters.shared_adapter.values()])
    assert shared.std().item() == pytest.approx(0.25, rel=0.05)


def test_init_draws_in_the_reference_order():
    """Text adapters are built then re-initialised, then the visual ones, then the shared ones."""
    adapters = _adapters(start=1, end=2, seed=7)
    torch.manual_seed(7)
    expected = []
    for group in ([(12, 6), (6, 12)] * 2, [(20, 6), (6, 20)] * 2, [(6, 6)] * 2):
        linears = [nn.Linear(n_in, n_out) for n_in, n_out in group]
        for linear in linears:
            nn.init.kaiming_normal_(linear.weight, mode="fan_out", nonlinearity="relu")
        expected += [linear.weight for linear in linears]
    got = []
    for modality in (adapters.text_adapter, adapters.visual_adapter):
        for key in ("1", "2"):
            got += [modality[key].down[0].weight, modality[key].up.weight]
    got += [adapters.shared_adapter[key][0].weight for key in ("1", "2")]
    assert len(got) == len(expected)
    for g, w in zip(got, expected):
        assert torch.equal(g, w)


def test_shared_projection_can_be_switched_off():
    adapters = _adapters(start=2, end=3, shared=False)
    assert adapters.shared_adapter is None
    assert not any(k.startswith("shared_adapter") for k in adapters.state_dict())
    h = torch.randn(2, 12)
    branch = adapters.text_branches()[2]
    a = adapters.text_adapter["2"]
    torch.testing.assert_close(branch(h, h), adapters.scale * a.up(torch.relu(a.down[0](h))))


def test_branches_cover_exactly_start_to_end():
    adapters = _adapters(start=3, end=5)
    assert sorted(adapters.text_branches()) == [3, 4, 5]
    assert sorted(adapters.visual_branches()) == [3, 4, 5]
    assert sorted(adapters.shared_adapter) == ["3", "4", "5"]
