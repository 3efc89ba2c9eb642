"""Top-k accuracy of a batch, as trainers log it next to the loss."""
from typing import List, Sequence, Tuple, Union

import torch


def compute_accuracy(
    output: Union[torch.Tensor, Sequence[torch.Tensor]], target: torch.Tensor, topk: Tuple[int, ...] = (1,)
) -> List[torch.Tensor]:
    """Percentages of ``target`` found in the top-k scores, one 1-element tensor per k.

    A tuple/list ``output`` (a model returning several heads) uses its first element.
    """
    if isinstance(output, (tuple, list)):
        output = output[0]
    maxk = max(topk)
    batch_size = target.size(0)
    _, pred = output.topk(maxk, 1, True, True)
    correct = pred.t().eq(target.view(1, -1).expand_as(pred.t()))
    res = []
    for k in topk:
        correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
        res.append(correct_k.mul_(100.0 / batch_size))
    return res
