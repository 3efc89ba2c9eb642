"""build_optimizer: OPTIM.NAME and its hyper-parameters -> a torch optimizer."""
import warnings
from typing import Any, Iterable, List, Optional, Union

import torch
import torch.nn as nn

from dassl.utils.errors import ConfigValueError

AVAI_OPTIMS = ["adam", "amsgrad", "sgd", "rmsprop", "radam", "adamw"]


def _staged_param_groups(model: nn.Module, optim_cfg: Any) -> List[dict]:
    """NEW_LAYERS at the base LR, every other child module at LR * BASE_LR_MULT."""
    if isinstance(model, nn.DataParallel):
        model = model.module
    new_layers = optim_cfg.NEW_LAYERS
    if isinstance(new_layers, str):
        new_layers = [new_layers]
    if not new_layers:
        warnings.warn("OPTIM.STAGED_LR is set but OPTIM.NEW_LAYERS is empty: every layer gets the reduced LR")
    base_params, new_params = [], []
    for name, module in model.named_children():
        if name in new_layers:
            new_params += list(module.parameters())
        else:
            base_params += list(module.parameters())
    return [
        {"params": base_params, "lr": optim_cfg.LR * optim_cfg.BASE_LR_MULT},
        {"params": new_params},
    ]


def build_optimizer(
    model: Union[nn.Module, Iterable[Any]], optim_cfg: Any, param_groups: Optional[List[dict]] = None
) -> torch.optim.Optimizer:
    """The optimizer named by ``optim_cfg.NAME`` over ``param_groups``, or the model's parameters.

    Frozen parameters are not filtered out; torch skips parameters whose grad is None.
    """
    name = optim_cfg.NAME
    if name not in AVAI_OPTIMS:
        raise ConfigValueError(f'OPTIM.NAME must be one of {AVAI_OPTIMS}, but got "{name}"')
    if param_groups is not None and optim_cfg.STAGED_LR:
        warnings.warn("OPTIM.STAGED_LR is ignored because param_groups were given explicitly")
    if param_groups is None:
        if optim_cfg.STAGED_LR:
            if not isinstance(model, nn.Module):
                raise TypeError("OPTIM.STAGED_LR needs an nn.Module (to find OPTIM.NEW_LAYERS), not an iterable")
            param_groups = _staged_param_groups(model, optim_cfg)
        elif isinstance(model, nn.Module):
            param_groups = model.parameters()
        else:
            param_groups = model

    lr, wd = optim_cfg.LR, optim_cfg.WEIGHT_DECAY
    betas = (optim_cfg.ADAM_BETA1, optim_cfg.ADAM_BETA2)
    if name == "adam":
        return torch.optim.Adam(param_groups, lr=lr, weight_decay=wd, betas=betas)
    if name == "amsgrad":
        return torch.optim.Adam(param_groups, lr=lr, weight_decay=wd, betas=betas, amsgrad=True)
    if name == "sgd":
        return torch.optim.SGD(
            param_groups,
            lr=lr,
            momentum=optim_cfg.MOMENTUM,
            weight_decay=wd,
            dampening=optim_cfg.SGD_DAMPNING,
            nesterov=optim_cfg.SGD_NESTEROV,
        )
    if name == "rmsprop":
        return torch.optim.RMSprop(
            param_groups, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=wd, alpha=optim_cfg.RMSPROP_ALPHA
        )
    if name == "radam":
        return torch.optim.RAdam(param_groups, lr=lr, weight_decay=wd, betas=betas)
    return torch.optim.AdamW(param_groups, lr=lr, weight_decay=wd, betas=betas)
