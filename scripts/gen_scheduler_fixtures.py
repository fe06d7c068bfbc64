"""PyTorch's learning rates, step by step, for torchlet's scheduler tests.

Each case builds SGD (or Adam) on one parameter, a scheduler with the given
settings, and records param_groups[0]['lr'] (and momentum / beta1 where a
scheduler cycles it) right after construction and after each scheduler.step().

    /usr/bin/python3 scripts/gen_scheduler_fixtures.py   # writes test/fixtures/schedulers/torch.json
"""
import json
import os

import torch
from torch.optim import lr_scheduler as S


def run(name, make_opt, make_sched, steps, metrics=None):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = make_opt([p])
    sched = make_sched(opt)
    g = opt.param_groups[0]
    def mom():
        return g["betas"][0] if "betas" in g else g.get("momentum")
    lrs, moms = [g["lr"]], [mom()]
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        lrs.append(g["lr"])
        moms.append(mom())
    return {"name": name, "lrs": lrs, "momenta": moms, "metrics": metrics}


def sgd(lr=0.1, momentum=0.0):
    return lambda ps: torch.optim.SGD(ps, lr=lr, momentum=momentum)


def main():
    plateau_metrics = [1.0, 0.9, 0.91, 0.92, 0.93, 0.85, 0.86, 0.86, 0.86, 0.86, 0.86, 0.80, 0.81, 0.82, 0.83, 0.84]
    acc_metrics = [0.5, 0.6, 0.6, 0.6, 0.61, 0.61, 0.61, 0.61, 0.7, 0.7, 0.7, 0.7]
    cases = [
        run("StepLR(stepSize=3, gamma=0.5)", sgd(0.1), lambda o: S.StepLR(o, 3, gamma=0.5), 12),
        run("MultiStepLR([2, 5, 5, 9], gamma=0.3)", sgd(0.2), lambda o: S.MultiStepLR(o, [2, 5, 5, 9], gamma=0.3), 12),
        run("ExponentialLR(gamma=0.9)", sgd(0.05), lambda o: S.ExponentialLR(o, 0.9), 15),
        run("CosineAnnealingLR(tMax=10)", sgd(0.1), lambda o: S.CosineAnnealingLR(o, 10), 10),
        run("CosineAnnealingLR(tMax=4, etaMin=0.01) past tMax", sgd(0.1), lambda o: S.CosineAnnealingLR(o, 4, eta_min=0.01), 13),
        run("OneCycleLR(maxLr=0.5, totalSteps=20) on SGD", sgd(0.1, 0.9), lambda o: S.OneCycleLR(o, 0.5, total_steps=20), 20),
        run("OneCycleLR(maxLr=1, epochs=3, stepsPerEpoch=7, linear, pctStart=0.25, threePhase)", sgd(0.1, 0.9),
            lambda o: S.OneCycleLR(o, 1.0, epochs=3, steps_per_epoch=7, anneal_strategy="linear", pct_start=0.25, three_phase=True), 21),
        run("OneCycleLR(maxLr=0.01, totalSteps=15) on Adam", lambda ps: torch.optim.Adam(ps, lr=1e-3),
            lambda o: S.OneCycleLR(o, 0.01, total_steps=15), 15),
        run("OneCycleLR(maxLr=0.3, totalSteps=10, cycleMomentum=false)", sgd(0.1), lambda o: S.OneCycleLR(o, 0.3, total_steps=10, cycle_momentum=False), 10),
        run("ReduceLROnPlateau(patience=2)", sgd(0.1), lambda o: S.ReduceLROnPlateau(o, patience=2), len(plateau_metrics), plateau_metrics),
        run("ReduceLROnPlateau(mode=max, factor=0.5, patience=1, cooldown=2, thresholdMode=abs, threshold=0.005, minLr=0.02)", sgd(0.1),
            lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.5, patience=1, cooldown=2, threshold_mode="abs", threshold=0.005, min_lr=0.02),
            len(acc_metrics), acc_metrics),
    ]
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "schedulers", "torch.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
