import pytest
import torch
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transformer import VisionTransformer

from pipeline.training.lean_forward import conv_norm_pairs, lean_forward


@pytest.fixture
def resnet() -> ModifiedResNet:
    """A small ModifiedResNet whose batch norms have non-trivial statistics and weights, frozen (eval mode)."""
    torch.manual_seed(0)
    model = ModifiedResNet(layers=[1, 1, 1, 1], output_dim=16, heads=2, image_size=32, width=8)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.2, 3)
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.bias, -0.5, 0.5)
    return model.eval()


def _output_and_gradients(model: torch.nn.Module, pixels: torch.Tensor) -> tuple[torch.Tensor, dict]:
    model.zero_grad(set_to_none=True)
    out = model(pixels)
    out.pow(2).sum().backward()
    return out.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_the_lean_forward_gives_the_same_outputs_and_gradients(resnet):
    pixels = torch.randn(3, 3, 32, 32)
    plain, plain_grads = _output_and_gradients(resnet, pixels)
    with lean_forward(resnet) as changed:
        out, grads = _output_and_gradients(resnet, pixels)
    # the stem's three pairs, each bottleneck's three and its downsampling pair (a convolution and a batch norm
    # each), and the attention pool
    assert changed == 2 * (3 + 4 * 4) + 1
    torch.testing.assert_close(out, plain, rtol=1e-4, atol=1e-5)
    # The key bias, the same for every token, never changes the softmax: its gradient is rounding noise, and the
    # lean forward does not read it at all.
    assert plain_grads.pop("attnpool.k_proj.bias").abs().max() < 1e-4
    assert grads.keys() == plain_grads.keys() and any("bn" in name for name in grads)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, plain_grads[name], rtol=1e-3, atol=1e-5, msg=name)


def test_leaving_the_context_restores_the_modules_own_forwards(resnet):
    modules = [module for pair in conv_norm_pairs(resnet) for module in pair] + [resnet.attnpool]
    with lean_forward(resnet):
        assert all("forward" in module.__dict__ for module in modules)
    assert not any("forward" in module.__dict__ for module in modules)


def test_a_batch_norm_in_training_mode_is_never_folded(resnet):
    with lean_forward(resnet), pytest.raises(RuntimeError, match="training mode"):
        resnet.train()(torch.randn(2, 3, 32, 32))


def test_other_towers_run_as_they_are():
    vit = VisionTransformer(image_size=32, patch_size=16, width=16, layers=1, heads=2, mlp_ratio=2.0, output_dim=8)
    with lean_forward(vit) as changed:
        assert changed == 0
