"""DataManager: builds the dataset, its transforms and the train / val / test loaders."""
import os.path as osp
import signal
from typing import Any, Callable, Dict, List, Optional, Type

import torch
from torch.utils.data import DataLoader

from dassl.utils.errors import ConfigValueError, EmptySplitError

from .dataset_wrapper import DatasetWrapper
from .datasets import build_dataset
from .datasets.base_dataset import Datum
from .decoded_images import decoded_images_for, split_deterministic_head
from .gpu_decode import BatchDecoder, DecodingLoader, EncodedImages, check_gpu_decode, collate_encoded
from .samplers import build_sampler, split_for_processes
from .transforms import build_transform


def leave_stop_signals_to_the_main_process(worker_id: int) -> None:
    """Loader workers ignore SIGTERM/SIGINT: a job scheduler (or Ctrl-C) signals every process of the
    job, and the main process stops after its current step and ends the workers itself."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def build_data_loader(
    cfg: Any,
    sampler_type: str = "SequentialSampler",
    data_source: Optional[List[Datum]] = None,
    batch_size: int = 64,
    n_domain: int = 0,
    n_ins: int = 2,
    tfm: Optional[Callable] = None,
    is_train: bool = True,
    dataset_wrapper: Optional[Type[DatasetWrapper]] = None,
    split_name: str = "",
) -> DataLoader:
    """A DataLoader over ``data_source``; an empty split raises an AssertionError naming it and the fix."""
    if not data_source:
        root = osp.abspath(osp.expanduser(cfg.DATASET.ROOT))
        raise EmptySplitError(
            f"The {split_name or 'requested'} split of dataset {cfg.DATASET.NAME} is empty "
            f"(DATASET.ROOT={root}). Check the dataset layout under that root and delete stale cached "
            "splits (split_fewshot/*.pkl, imagenet/preprocessed.pkl) that were written for another location."
        )
    sampler = build_sampler(
        sampler_type, cfg=cfg, data_source=data_source, batch_size=batch_size, n_domain=n_domain, n_ins=n_ins
    )
    per_process = split_for_processes(sampler_type, len(data_source), batch_size, is_train)
    if per_process is not None:  # one torchrun process's part of the batches or of the evaluation set
        sampler, batch_size = per_process
    use_cuda = torch.cuda.is_available() and cfg.USE_CUDA
    options = dict(
        batch_size=batch_size,
        sampler=sampler,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        drop_last=is_train and len(data_source) >= batch_size,
        persistent_workers=cfg.DATALOADER.PERSISTENT_WORKERS and cfg.DATALOADER.NUM_WORKERS > 0,
        worker_init_fn=leave_stop_signals_to_the_main_process,
    )
    if not is_train and cfg.DATALOADER.TEST.GPU_DECODE:
        device = torch.device("cuda" if use_cuda else "cpu")
        check_gpu_decode(cfg, device)
        loader = DataLoader(EncodedImages(data_source), collate_fn=collate_encoded, **options)
        return DecodingLoader(loader, BatchDecoder(cfg, device))
    wrapper = dataset_wrapper or DatasetWrapper
    cache = cfg.DATALOADER.CACHE_DECODED if is_train else cfg.DATALOADER.TEST.CACHE_DECODED
    extra = {}
    if cache:
        keep_original = is_train or cfg.DATALOADER.RETURN_IMG0
        head, tfm = (None, tfm) if keep_original else split_deterministic_head(tfm)
        extra["decoded"] = decoded_images_for(head)
    return PreparingDataLoader(
        wrapper(cfg, data_source, transform=tfm, is_train=is_train, **extra), pin_memory=use_cuda, **options
    )


class PreparingDataLoader(DataLoader):
    """A DataLoader that lets its dataset prepare (e.g. fill the decoded-image store) before each
    pass, in the main process: only a pass decodes, so a loader built but never used costs nothing."""

    def __iter__(self):
        prepare = getattr(self.dataset, "prepare", None)
        if prepare is not None:
            prepare()
        return super().__iter__()


class DataManager:
    """Everything a trainer needs from the data side: the dataset, the loaders and the class names."""

    def __init__(
        self,
        cfg: Any,
        custom_tfm_train: Optional[Callable] = None,
        custom_tfm_test: Optional[Callable] = None,
        dataset_wrapper: Optional[Type[DatasetWrapper]] = None,
    ) -> None:
        dataset = build_dataset(cfg)

        if custom_tfm_train is None:
            tfm_train = build_transform(cfg, is_train=True)
        else:
            print("* Using custom transform for training")
            tfm_train = custom_tfm_train
        if custom_tfm_test is None:
            tfm_test = build_transform(cfg, is_train=False)
        else:
            if cfg.DATALOADER.TEST.GPU_DECODE:
                raise ConfigValueError(
                    "DATALOADER.TEST.GPU_DECODE decodes with the standard test pipeline and cannot apply a "
                    "custom test transform; set DATALOADER.TEST.GPU_DECODE False."
                )
            print("* Using custom transform for testing")
            tfm_test = custom_tfm_test

        loader_cfg = cfg.DATALOADER
        train_loader_x = build_data_loader(
            cfg,
            sampler_type=loader_cfg.TRAIN_X.SAMPLER,
            data_source=dataset.train_x,
            batch_size=loader_cfg.TRAIN_X.BATCH_SIZE,
            n_domain=loader_cfg.TRAIN_X.N_DOMAIN,
            n_ins=loader_cfg.TRAIN_X.N_INS,
            tfm=tfm_train,
            is_train=True,
            dataset_wrapper=dataset_wrapper,
            split_name="train_x",
        )

        train_loader_u = None
        if dataset.train_u:
            u_cfg = loader_cfg.TRAIN_X if loader_cfg.TRAIN_U.SAME_AS_X else loader_cfg.TRAIN_U
            train_loader_u = build_data_loader(
                cfg,
                sampler_type=u_cfg.SAMPLER,
                data_source=dataset.train_u,
                batch_size=u_cfg.BATCH_SIZE,
                n_domain=u_cfg.N_DOMAIN,
                n_ins=u_cfg.N_INS,
                tfm=tfm_train,
                is_train=True,
                dataset_wrapper=dataset_wrapper,
                split_name="train_u",
            )

        val_loader = None
        if dataset.val:
            val_loader = build_data_loader(
                cfg,
                sampler_type=loader_cfg.TEST.SAMPLER,
                data_source=dataset.val,
                batch_size=loader_cfg.TEST.BATCH_SIZE,
                tfm=tfm_test,
                is_train=False,
                dataset_wrapper=dataset_wrapper,
                split_name="val",
            )

        test_loader = build_data_loader(
            cfg,
            sampler_type=loader_cfg.TEST.SAMPLER,
            data_source=dataset.test,
            batch_size=loader_cfg.TEST.BATCH_SIZE,
            tfm=tfm_test,
            is_train=False,
            dataset_wrapper=dataset_wrapper,
            split_name="test",
        )

        self._num_classes = dataset.num_classes
        self._num_source_domains = len(cfg.DATASET.SOURCE_DOMAINS)
        self._lab2cname = dataset.lab2cname
        self.dataset = dataset
        self.train_loader_x = train_loader_x
        self.train_loader_u = train_loader_u
        self.val_loader = val_loader
        self.test_loader = test_loader
        if cfg.VERBOSE:
            self.show_dataset_summary(cfg)

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def num_source_domains(self) -> int:
        return self._num_source_domains

    @property
    def lab2cname(self) -> Dict[int, str]:
        return self._lab2cname

    def show_dataset_summary(self, cfg: Any) -> None:
        """Print a two-column table of the dataset sizes."""
        rows = [["Dataset", cfg.DATASET.NAME]]
        if cfg.DATASET.SOURCE_DOMAINS:
            rows.append(["Source", str(cfg.DATASET.SOURCE_DOMAINS)])
        if cfg.DATASET.TARGET_DOMAINS:
            rows.append(["Target", str(cfg.DATASET.TARGET_DOMAINS)])
        rows.append(["# classes", f"{self.num_classes:,}"])
        rows.append(["# train_x", f"{len(self.dataset.train_x):,}"])
        if self.dataset.train_u:
            rows.append(["# train_u", f"{len(self.dataset.train_u):,}"])
        if self.dataset.val:
            rows.append(["# val", f"{len(self.dataset.val):,}"])
        rows.append(["# test", f"{len(self.dataset.test):,}"])
        width = max(len(name) for name, _ in rows)
        print("\n".join(f"{name.ljust(width)}  {value}" for name, value in rows))
