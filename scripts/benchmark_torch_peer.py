r"""The PyTorch side of `scripts/benchmark.py --suite=peers`.

Run by the benchmark in a separate interpreter that has torch (and, for the
weighting cases, LibMTL); it never imports tfmtl or TensorFlow. It builds the
benchmark's model in PyTorch: a hard-sharing ResNet-18 with the small stem
(3x3/1 conv, BN, ReLU; four stages of two basic blocks, strides 1, 2, 2, 2),
dense heads of one 3x3 conv (64 channels, no bias) + BN + ReLU + 1x1 conv
whose outputs are resized bilinearly to the input size, classifier heads of
global average pooling + one linear layer, and the losses of `tfmtl.losses`
(pixel cross-entropy, masked L1 depth, 1 - cosine normals, softmax
cross-entropy). SGD, lr 0.05, momentum 0.9, as `tfmtl.testing.tiny_problem`.

It trains `--warmup + --steps` steps on random synthetic batches and prints
one JSON line: the median step time, the per-step times, the parameter count
and the peak resident memory of the process.

Usage (from the benchmark, or by hand):
  python scripts/benchmark_torch_peer.py --case=precision --precision=bf16
  python scripts/benchmark_torch_peer.py --case=weighting --method=PCGrad \
      --tasks=attr_a0,attr_a1,depth
"""

import argparse
import importlib
import importlib.util
import json
import resource
import statistics
import sys
import time
import types

import torch
import torch.nn.functional as F
from torch import nn

DENSE_OUTPUTS = {"segmentation": 4, "depth": 1, "normals": 3}


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False),
                nn.BatchNorm2d(cout),
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class Trunk(nn.Module):
    def __init__(self, widths):
        super().__init__()
        layers = [
            nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        cin = widths[0]
        for stage, width in enumerate(widths):
            for index in range(2):
                stride = 2 if stage and not index else 1
                layers.append(BasicBlock(cin, width, stride))
                cin = width
        self.layers = nn.Sequential(*layers)
        self.channels = cin

    def forward(self, x):
        return self.layers(x)


def head(task, channels):
    if task in DENSE_OUTPUTS:
        return nn.Sequential(
            nn.Conv2d(channels, 64, 3, 1, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.Conv2d(64, DENSE_OUTPUTS[task], 1),
        )
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 2)
    )


def masked_mean(values, valid):
    valid = valid.float()
    dims = tuple(range(1, values.dim()))
    return (values * valid).sum(dims) / valid.sum(dims).clamp(min=1.0)


def task_loss(task, outputs, labels):
    outputs = outputs.float()
    if task == "segmentation":
        pixel = F.cross_entropy(outputs, labels, reduction="none")
        return masked_mean(pixel, labels >= 0).mean()
    if task == "depth":
        return masked_mean((outputs - labels).abs(), labels > 0).mean()
    if task == "normals":
        cosine = (
            F.normalize(outputs, dim=1, eps=1e-12)
            * F.normalize(labels, dim=1, eps=1e-12)
        ).sum(1)
        return masked_mean(1.0 - cosine, labels.abs().sum(1) > 0).mean()
    return F.cross_entropy(outputs, labels)


class HardSharing(nn.Module):
    def __init__(self, tasks, widths):
        super().__init__()
        self.tasks = list(tasks)
        self.trunk = Trunk(widths)
        self.heads = nn.ModuleDict(
            {t: head(t, self.trunk.channels) for t in self.tasks}
        )

    def forward(self, images):
        features = self.trunk(images)
        outputs = {}
        for task in self.tasks:
            y = self.heads[task](features)
            if task in DENSE_OUTPUTS:
                y = F.interpolate(
                    y,
                    size=images.shape[-2:],
                    mode="bilinear",
                    align_corners=False,
                )
            outputs[task] = y
        return outputs


def batch(tasks, size, image, generator):
    images = torch.rand(size, 3, image, image, generator=generator)
    labels = {}
    for task in tasks:
        if task == "segmentation":
            labels[task] = torch.randint(
                0, 4, (size, image, image), generator=generator
            )
        elif task == "depth":
            labels[task] = torch.rand(
                size, 1, image, image, generator=generator
            )
        elif task == "normals":
            labels[task] = F.normalize(
                torch.randn(size, 3, image, image, generator=generator), dim=1
            )
        else:
            labels[task] = torch.randint(0, 2, (size,), generator=generator)
    return images, labels


def _libmtl_weighting():
    """`LibMTL.weighting` without running `LibMTL/__init__`, whose model zoo
    imports a torchvision module that recent torchvision removed."""
    if "LibMTL" not in sys.modules:
        spec = importlib.util.find_spec("LibMTL")
        if spec is None:
            raise SystemExit("benchmark_torch_peer: LibMTL is not installed")
        package = types.ModuleType("LibMTL")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["LibMTL"] = package
    return importlib.import_module("LibMTL.weighting")


def libmtl_model(base, method):
    """`base` with LibMTL's weighting `method` mixed in, as LibMTL's trainer
    builds it: the trunk's parameters are the shared ones."""
    weighting_cls = getattr(_libmtl_weighting(), method)

    class Model(type(base), weighting_cls):
        pass

    # AbsWeighting.__init__ only re-runs nn.Module's, which would drop the
    # model's parameters: switch the class in place instead.
    base.__class__ = Model
    base.task_num = len(base.tasks)
    base.task_name = base.tasks
    base.device = torch.device("cpu")
    base.rep_grad = False
    base.epoch = 0
    base.get_share_params = lambda: base.trunk.parameters()
    base.zero_grad_share_params = lambda: base.trunk.zero_grad(
        set_to_none=False
    )
    base.init_param()
    return base


WEIGHT_ARGS = {  # LibMTL's defaults (LibMTL/config.py)
    "CAGrad": {"calpha": 0.5, "rescale": 1},
    "MGDA": {"mgda_gn": "none"},
    "GradVac": {"beta": 0.5},
    "PCGrad": {},
}


def run(args):
    torch.manual_seed(0)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    tasks = args.tasks.split(",")
    widths = tuple(int(w) for w in args.widths.split(","))
    model = HardSharing(tasks, widths)
    if args.method != "EW":
        model = libmtl_model(model, args.method)
    # LibMTL flattens gradients with `view`, which needs contiguous
    # parameters, so channels-last is used for the precision case only.
    memory_format = torch.contiguous_format
    if args.case == "precision":
        memory_format = torch.channels_last
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    data = [
        batch(tasks, args.batch_size, args.image_size, generator)
        for _ in range(4)
    ]
    bf16 = args.precision == "bf16"
    times = []
    for step in range(args.warmup + args.steps):
        images, labels = data[step % len(data)]
        images = images.contiguous(memory_format=memory_format)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            outputs = model(images)
        losses = [task_loss(t, outputs[t], labels[t]) for t in tasks]
        if args.method == "EW":
            torch.stack(losses).sum().backward()
        else:
            model.backward(torch.stack(losses), **WEIGHT_ARGS[args.method])
        optimizer.step()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "median_s": statistics.median(times),
        "times_s": times,
        "parameters": sum(p.numel() for p in model.parameters()),
        "peak_rss_mb": peak_kib / 1024.0,
        "torch": torch.__version__,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--case", choices=["precision", "weighting"], required=True
    )
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument(
        "--method", default="EW", help="EW or a LibMTL weighting class name."
    )
    parser.add_argument(
        "--tasks", default="segmentation,depth,normals,attr_a0,attr_b0"
    )
    parser.add_argument("--widths", default="64,128,256,512")
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    print(json.dumps(run(parser.parse_args())))


if __name__ == "__main__":
    main()
