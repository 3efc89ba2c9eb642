"""TrainerBase, SimpleTrainer and TrainerX: the training life cycle CoOp-family trainers build on.

A trainer subclass builds its model in ``build_model``, registers what it trains with
``register_model``, and implements ``forward_backward`` (stepping the schedule with
``update_lr`` after the last batch of an epoch, as the family does). It extends the loop through
hooks rather than copies of it: ``before_epoch`` / ``after_epoch`` (call ``super()``),
``after_evaluation``, and ``stop_early``, the signal checked after each epoch; it reaches what it
registered through ``get_model`` / ``get_optimizer`` / ``get_scheduler``.
"""
import datetime
import os
import os.path as osp
import sys
import time
from collections import OrderedDict
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from dassl.data import DataManager
from dassl.evaluation import build_evaluator, write_predictions
from dassl.utils import (
    AverageMeter,
    MetricMeter,
    load_checkpoint,
    mkdir_if_missing,
    resume_from_checkpoint,
    save_checkpoint,
    tolist_if_not,
)
from dassl.utils.errors import InputFileNotFoundError

from dassl.utils.errors import FrameworkError

from . import distributed
from .result_file import write_result_file
from .stop_request import StopRequest, TrainingStopped
from .training_state import (
    RESUME_FILE,
    capture_rng_state,
    load_training_state,
    restore_rng_state,
    save_training_state,
)

Names = Optional[Union[str, List[str]]]


class NonFiniteLossError(FrameworkError, FloatingPointError):
    """The loss became NaN or infinite: the run diverged."""


class TrainerBase:
    """Registered models/optimizers/schedulers, checkpointing, and the epoch loop."""

    def __init__(self) -> None:
        self._models: "OrderedDict[str, nn.Module]" = OrderedDict()
        self._optims: "OrderedDict[str, Optional[torch.optim.Optimizer]]" = OrderedDict()
        self._scheds: "OrderedDict[str, Any]" = OrderedDict()
        self._writer: Any = None
        self.stop_request = StopRequest()

    def register_model(
        self, name: str = "model", model: Optional[nn.Module] = None, optim: Any = None, sched: Any = None
    ) -> None:
        """Track ``model`` (and its optimizer/scheduler, either may be None) under ``name``."""
        if self.__dict__.get("_models") is None:
            raise AttributeError("Cannot assign model before super().__init__() call")
        if self.__dict__.get("_optims") is None:
            raise AttributeError("Cannot assign optim before super().__init__() call")
        if self.__dict__.get("_scheds") is None:
            raise AttributeError("Cannot assign sched before super().__init__() call")
        assert name not in self._models, "Found duplicate model names"
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched

    def get_model_names(self, names: Names = None) -> List[str]:
        """All registered names in order, or the given subset (each must exist)."""
        names_real = list(self._models.keys())
        if names is None:
            return names_real
        names = tolist_if_not(names)
        for name in names:
            assert name in names_real, f'Model "{name}" is not registered (registered: {names_real})'
        return names

    def get_model(self, name: Optional[str] = None) -> nn.Module:
        """The module registered under ``name`` (default: the first registered)."""
        return self._models[self._registered_name(name)]

    def get_optimizer(self, name: Optional[str] = None) -> Optional[torch.optim.Optimizer]:
        """The optimizer registered with ``name`` (default: the first registered); None if it has none."""
        return self._optims[self._registered_name(name)]

    def get_scheduler(self, name: Optional[str] = None) -> Any:
        """The LR scheduler registered with ``name`` (default: the first registered); None if it has none."""
        return self._scheds[self._registered_name(name)]

    def _registered_name(self, name: Optional[str]) -> str:
        if name is None:
            names = self.get_model_names()
            if not names:
                raise KeyError(f"{type(self).__name__} has registered no model (call register_model in build_model)")
            return names[0]
        return self.get_model_names(name)[0]

    def save_model(
        self, epoch: int, directory: str, is_best: bool = False, val_result: Optional[float] = None, model_name: str = ""
    ) -> None:
        """Write ``directory/<name>/model.pth.tar-<epoch + 1>`` (or ``model_name``) per registered model
        (rank 0 only, under torchrun)."""
        if not distributed.is_main_process():
            return
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            save_checkpoint(
                {
                    "state_dict": self._models[name].state_dict(),
                    "epoch": epoch + 1,
                    "optimizer": optim.state_dict() if optim is not None else None,
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "val_result": val_result,
                },
                osp.join(directory, name),
                is_best=is_best,
                model_name=model_name,
            )

    def resume_model_if_exist(self, directory: str) -> int:
        """Resume from Dassl's ``<name>/checkpoint`` files if all exist; return the completed epochs."""
        names = self.get_model_names()
        if not names or any(not osp.exists(osp.join(directory, name)) for name in names):
            print("No checkpoint found, train from scratch")
            return 0
        print(f"Found checkpoint at {directory} (will resume training)")
        start_epoch = 0
        for name in names:
            start_epoch = resume_from_checkpoint(
                osp.join(directory, name), self._models[name], self._optims[name], self._scheds[name]
            )
        return start_epoch

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``model-best.pth.tar`` (or ``model.pth.tar-<epoch>``) of every registered model."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        model_file = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
        for name in self.get_model_names():
            model_path = osp.join(directory, name, model_file)
            if not osp.exists(model_path):
                raise InputFileNotFoundError(f'Model not found at "{model_path}"')
            checkpoint = load_checkpoint(model_path)
            val_result = checkpoint.get("val_result")
            shown = "N/A" if val_result is None else f"{val_result:.1f}"
            print(f"Load {model_path} to {name} (epoch={checkpoint['epoch']}, val_result={shown})")
            self._models[name].load_state_dict(checkpoint["state_dict"])

    def set_model_mode(self, mode: str = "train", names: Names = None) -> None:
        """Switch only the registered modules to train or eval mode."""
        for name in self.get_model_names(names):
            if mode == "train":
                self._models[name].train()
            elif mode in ("test", "eval"):
                self._models[name].eval()
            else:
                raise KeyError(f'Unknown model mode "{mode}" (use "train", "test" or "eval")')

    def update_lr(self, names: Names = None) -> None:
        """Step every registered scheduler (trainers call this after an epoch's last batch)."""
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def detect_anomaly(self, loss: torch.Tensor) -> None:
        """Stop at a NaN/inf loss, saying where it happened and what to change."""
        if not torch.isfinite(loss).all():
            raise NonFiniteLossError(self.describe_non_finite_loss(loss))

    def describe_non_finite_loss(self, loss: torch.Tensor) -> str:
        epoch, max_epoch = getattr(self, "epoch", 0) + 1, getattr(self, "max_epoch", "?")
        batch, batches = getattr(self, "batch_idx", 0) + 1, getattr(self, "num_batches", "?")
        names = [name for name in self.get_model_names() if self._optims[name] is not None]
        lr = f"{self._optims[names[0]].param_groups[0]['lr']:.4e}" if names else "n/a"
        precision = getattr(self, "precision", None) or "fp32"
        value = loss.detach().float().flatten()[0].item() if loss.numel() else float("nan")
        return (
            f"The training loss is {value} at epoch {epoch}/{max_epoch}, batch {batch}/{batches} "
            f"(learning rate {lr}, precision {precision}): training diverged. Checkpoints saved so far are "
            "unchanged. Lower OPTIM.LR (e.g. halve it) or train in fp32 (the trainer's PREC key), then start "
            "again in a new --output-dir or with --overwrite."
        )

    def init_writer(self, log_dir: str) -> None:
        """Start a tensorboard writer; without the tensorboard package, scalars are skipped."""
        if self._writer is not None or not distributed.is_main_process():
            return
        print(f"Initialize tensorboard (log_dir={log_dir})")
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            print(f"Tensorboard is unavailable ({e}); scalars are not written")
            return
        self._writer = SummaryWriter(log_dir=log_dir)

    def close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write_scalar(self, tag: str, scalar_value: float, global_step: Optional[int] = None) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, scalar_value, global_step)

    def train(self, start_epoch: int, max_epoch: int) -> None:
        """before_train, then before/run/after_epoch per epoch until the last one or an early stop,
        then after_train."""
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.stopped_early = False
        self.before_train()
        for self.epoch in range(self.start_epoch, self.max_epoch):
            self.before_epoch()
            self.run_epoch()
            self.after_epoch()
            if self.stopped_early:
                break
        self.after_train()

    def stop_early(self) -> Optional[str]:
        """The stop-early signal, asked after every epoch but the last: return why training should
        end now (it is printed and the epoch is saved as the final one), or None to go on."""
        return None

    def after_evaluation(self, split: str, results: Dict[str, float]) -> None:
        """Hook called at the end of every ``test`` with the evaluated split and its metrics (before
        the engine compares a validation result with ``best_result``)."""

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def before_epoch(self) -> None:
        pass

    def after_epoch(self) -> None:
        pass

    def run_epoch(self) -> None:
        raise NotImplementedError

    def test(self, split: Optional[str] = None) -> float:
        raise NotImplementedError

    def parse_batch_train(self, batch: Dict[str, Any]) -> Tuple[Any, ...]:
        raise NotImplementedError

    def parse_batch_test(self, batch: Dict[str, Any]) -> Tuple[Any, ...]:
        raise NotImplementedError

    def forward_backward(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        raise NotImplementedError

    def model_inference(self, input: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def model_zero_grad(self, names: Names = None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad()

    def model_backward(self, loss: torch.Tensor) -> None:
        self.detect_anomaly(loss)
        loss.backward()

    def model_update(self, names: Names = None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss: torch.Tensor, names: Names = None) -> None:
        """Zero the grads, check the loss is finite, backprop, and step the optimizers."""
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)


def _choose_device(cfg: Any) -> torch.device:
    """CUDA when available and USE_CUDA is set, else CPU; the choice is printed."""
    if torch.cuda.is_available() and cfg.USE_CUDA:
        device = distributed.cuda_device()
        print(f"Using device: {device} ({torch.cuda.get_device_name(device)})")
        distributed.note_unused_gpus()
    else:
        reason = "USE_CUDA is False" if torch.cuda.is_available() else "CUDA is not available"
        device = torch.device("cpu")
        print(f"Using device: cpu ({reason})")
    return device


class SimpleTrainer(TrainerBase):
    """Builds data, model and evaluator from the config; checkpoints, resumes and tests."""

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.check_cfg(cfg)
        self.device = _choose_device(cfg)
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.cfg = cfg
        self.build_data_loader()
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -np.inf
        self.best_epoch = 0
        self._rng_to_restore: Optional[Dict[str, Any]] = None
        self._resume_position: Optional[Dict[str, Any]] = None
        self._epoch_start_rng: Optional[Dict[str, Any]] = None

    def check_cfg(self, cfg: Any) -> None:
        """Hook to validate the config; called before ``self.cfg`` is set."""

    def build_data_loader(self) -> None:
        dm = DataManager(self.cfg)
        self.train_loader_x = dm.train_loader_x
        self.train_loader_u = dm.train_loader_u
        self.val_loader = dm.val_loader
        self.test_loader = dm.test_loader
        self.num_classes = dm.num_classes
        self.num_source_domains = dm.num_source_domains
        self.lab2cname = dm.lab2cname
        self.dm = dm

    def build_model(self) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} must override build_model() and register what it trains with register_model()"
        )

    def train(self) -> None:  # type: ignore[override]
        super().train(self.start_epoch, self.max_epoch)

    def before_train(self) -> None:
        """Resume (our end-of-epoch state first, else Dassl's checkpoint files), then start tensorboard."""
        directory = self.cfg.RESUME or self.cfg.OUTPUT_DIR
        state_path = osp.join(directory, RESUME_FILE)
        if osp.isfile(state_path):
            self.start_epoch = self.resume_training_state(state_path)
        else:
            self.start_epoch = self.resume_model_if_exist(directory)
        writer_dir = osp.join(self.output_dir, "tensorboard")
        mkdir_if_missing(writer_dir)
        self.init_writer(writer_dir)
        if self._rng_to_restore is not None:
            restore_rng_state(self._rng_to_restore)
            self._rng_to_restore = None
        distributed.prepare_training(self)
        self.time_start = time.time()

    def resume_training_state(self, state_path: str) -> int:
        """Load the resumable checkpoint; the RNG states are put back last, just before the first epoch
        (or, for a state saved inside an epoch, when that epoch's batches are drawn again)."""
        epoch, self.best_result, rng, extra, position = load_training_state(
            state_path, self._models, self._optims, self._scheds
        )
        if position:
            self._resume_position = dict(position, rng=rng)
        else:
            self._rng_to_restore = rng
        scaler = getattr(self, "scaler", None)
        if scaler is not None and extra.get("grad_scaler"):
            scaler.load_state_dict(extra["grad_scaler"])
        self.best_epoch = extra.get("best_epoch", 0)
        self.load_extra_training_state(extra.get("trainer", {}))
        inside = f", batch {position['batches_done'] + 1}" if position else ""
        print(
            f"Resumed from {state_path}: {epoch} of {self.max_epoch} epochs done, continuing at epoch "
            f"{epoch + 1}{inside} with the saved weights, optimizer, scheduler and RNG states (this log continues the earlier run)"
        )
        return epoch

    def extra_training_state(self) -> Dict[str, Any]:
        """Trainer-owned values (tensors or plain values) to keep in the resumable checkpoint.

        Override together with ``load_extra_training_state`` when a trainer carries state across
        epochs beyond its registered models, optimizers, schedulers and ``self.scaler``.
        """
        return {}

    def load_extra_training_state(self, state: Dict[str, Any]) -> None:
        """Put back what ``extra_training_state`` returned."""

    def after_epoch(self) -> None:
        """Validate (best_val), ask ``stop_early``, save Dassl's checkpoints, and write the resumable state."""
        last_epoch = (self.epoch + 1) == self.max_epoch
        do_test = not self.cfg.TEST.NO_TEST
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        meet_checkpoint_freq = freq > 0 and (self.epoch + 1) % freq == 0

        if do_test and self.cfg.TEST.FINAL_MODEL == "best_val":
            curr_result = self.test(split="val")
            if curr_result > self.best_result:
                self.best_result = curr_result
                self.best_epoch = self.epoch + 1
                self.save_model(self.epoch, self.output_dir, val_result=curr_result, model_name="model-best.pth.tar")
        if not last_epoch:
            reason = self.stop_early()
            if reason:
                print(f"Early stopping after epoch {self.epoch + 1}: {reason}")
                self.stopped_early = last_epoch = True
        if meet_checkpoint_freq or last_epoch:
            self.save_model(self.epoch, self.output_dir)
        self.save_training_state(finished=last_epoch)
        if not last_epoch:
            self.stop_if_requested(f"after epoch {self.epoch + 1} of {self.max_epoch}")

    def save_training_state(self, finished: bool, batches_done: int = 0) -> None:
        """Write ``OUTPUT_DIR/resume.pth`` after each epoch (or after ``batches_done`` batches of the
        current one, when stopped inside it); remove it once the last epoch's checkpoint exists."""
        state_path = osp.join(self.output_dir, RESUME_FILE)
        if not distributed.is_main_process():
            return
        if finished:
            if osp.exists(state_path):
                os.remove(state_path)
            return
        scaler = getattr(self, "scaler", None)
        extra = {
            "grad_scaler": scaler.state_dict() if scaler is not None else None,
            "best_epoch": self.best_epoch,
            "trainer": self.extra_training_state(),
        }
        completed, position = self.epoch + 1, None
        if batches_done:
            completed, position = self.epoch, {"batches_done": batches_done, "epoch_rng": self._epoch_start_rng}
        save_training_state(
            state_path, completed, self._models, self._optims, self._scheds, self.best_result, extra, position
        )

    def stop_if_requested(self, where: str, batches_done: int = 0) -> None:
        """After a finished step: on a pending SIGTERM/SIGINT (on any rank), save the resumable state and stop."""
        if not distributed.any_rank(self.stop_request.requested is not None):
            return
        if batches_done:
            self.save_training_state(finished=False, batches_done=batches_done)
        self.close_writer()
        signal_name = self.stop_request.requested or "a signal to another rank"
        raise TrainingStopped(signal_name, where, osp.join(self.output_dir, RESUME_FILE))

    def start_epoch_rng(self) -> Optional[Dict[str, Any]]:
        """Call first in an epoch: note the RNG states a stop inside it saves, after putting back those
        of the epoch's start when resuming inside it; returns where that run stopped (else None)."""
        position, self._resume_position = self._resume_position, None
        if position is not None:
            restore_rng_state(position["epoch_rng"])
        self._epoch_start_rng = capture_rng_state()
        return position

    def epoch_batches(self) -> Iterator[Tuple[int, Any]]:
        """(index, batch) pairs of this epoch. A run resumed inside the epoch draws the epoch's order
        again from the saved RNG states, passes over the batches already trained, then continues
        with the RNG states of the moment it stopped."""
        position = self.start_epoch_rng()
        batches = iter(self.train_loader_x)
        if position is None:
            return enumerate(batches)
        for _ in range(position["batches_done"]):
            next(batches)
        restore_rng_state(position["rng"])
        return enumerate(batches, start=position["batches_done"])

    def after_train(self) -> None:
        distributed.barrier()  # rank 0's checkpoints are written before any rank loads one
        print("Finish training")
        if not self.cfg.TEST.NO_TEST:
            if self.cfg.TEST.FINAL_MODEL == "best_val":
                print("Deploy the model with the best val performance")
                self.load_model(self.output_dir)
            else:
                print("Deploy the last-epoch model")
            self.test()
        elapsed = round(time.time() - self.time_start)
        print(f"Elapsed: {datetime.timedelta(seconds=elapsed)}")
        self.close_writer()

    @torch.no_grad()
    def test(self, split: Optional[str] = None) -> float:
        """Evaluate on ``split`` (default TEST.SPLIT); return the accuracy.

        A call without ``split`` is a final evaluation and also writes ``OUTPUT_DIR/result.json``,
        preceded by the per-image ``predictions.npz`` when the evaluator keeps them.
        """
        self.set_model_mode("eval")
        self.evaluator.reset()
        is_final = split is None
        if split is None:
            split = self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            data_loader = self.val_loader
        else:
            split = "test"
            data_loader = self.test_loader
        print(f"Evaluate on the *{split}* set")
        collector = distributed.EvaluationCollector(self.evaluator)
        for batch in tqdm(data_loader, desc=f"test ({split})", file=sys.stderr, leave=False, disable=None):
            input, label = self.parse_batch_test(batch)
            output = self.model_inference(input)
            collector.process(output, label)
        collector.finish()
        results = self.evaluator.evaluate()
        for name, value in results.items():
            self.write_scalar(f"{split}/{name}", value, self.epoch)
        self.after_evaluation(split, results)
        if is_final and distributed.is_main_process():
            predictions = self.evaluator.predictions()
            if predictions is not None:
                write_predictions(self.cfg.OUTPUT_DIR, *predictions)
            write_result_file(self.cfg, split, results, num_images=len(data_loader.dataset))
        return list(results.values())[0]

    def model_inference(self, input: torch.Tensor) -> torch.Tensor:
        return self.model(input)

    def parse_batch_test(self, batch: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor]:
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def get_current_lr(self, names: Names = None) -> float:
        return self.get_optimizer(self.get_model_names(names)[0]).param_groups[0]["lr"]


class TrainerX(SimpleTrainer):
    """Trains on the labelled loader ``train_loader_x``, printing Dassl's periodic log line."""

    def run_epoch(self) -> None:
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time = AverageMeter()
        data_time = AverageMeter()
        self.num_batches = len(self.train_loader_x)
        print_freq = self.cfg.TRAIN.PRINT_FREQ
        progress = tqdm(
            total=self.num_batches,
            desc=f"epoch {self.epoch + 1}/{self.max_epoch}",
            file=sys.stderr,
            leave=False,
            disable=None,
        )
        end = time.time()
        for self.batch_idx, batch in self.epoch_batches():
            data_time.update(time.time() - end)
            loss_summary = self.forward_backward(batch)
            batch_time.update(time.time() - end)
            losses.update(loss_summary)
            progress.update(1)

            if (self.batch_idx + 1) % print_freq == 0 or self.num_batches < print_freq:
                batches_left = self.num_batches - self.batch_idx - 1
                batches_left += (self.max_epoch - self.epoch - 1) * self.num_batches
                eta = datetime.timedelta(seconds=int(batch_time.avg * batches_left))
                info = [
                    f"epoch [{self.epoch + 1}/{self.max_epoch}]",
                    f"batch [{self.batch_idx + 1}/{self.num_batches}]",
                    f"time {batch_time.val:.3f} ({batch_time.avg:.3f})",
                    f"data {data_time.val:.3f} ({data_time.avg:.3f})",
                    f"{losses}",
                    f"lr {self.get_current_lr():.4e}",
                    f"eta {eta}",
                ]
                tqdm.write(" ".join(info), file=sys.stdout)

            n_iter = self.epoch * self.num_batches + self.batch_idx
            for name, meter in losses.meters.items():
                self.write_scalar("train/" + name, meter.avg, n_iter)
            self.write_scalar("train/lr", self.get_current_lr(), n_iter)
            if self.batch_idx + 1 < self.num_batches:
                self.stop_if_requested(
                    f"in epoch {self.epoch + 1} after batch {self.batch_idx + 1} of {self.num_batches}",
                    batches_done=self.batch_idx + 1,
                )
            end = time.time()
        progress.close()

    def parse_batch_train(self, batch: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return batch["img"].to(self.device), batch["label"].to(self.device), batch["domain"].to(self.device)
