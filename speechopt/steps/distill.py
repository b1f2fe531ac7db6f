"""Knowledge distillation: train a smaller student from a teacher's frame posteriors.

The loss is (1 - alpha) * CTC(student, transcript) + alpha * T^2 * KL(teacher_T || student_T), the KL taken
per output frame over valid frames only, with both distributions softened by temperature T. Frame-level
distillation needs teacher and student to emit the same number of frames for the same input; every
registered ASR family subsamples time by 2, and the check below refuses any pair that does not match.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from speechopt.artifact import load_artifact
from speechopt.errors import SpeechoptError


@dataclass
class DistillSettings:
    student_arch: str | None  # None: taken from the artifact the student starts from (init_from)
    student_config: dict = field(default_factory=dict)
    temperature: float = 2.0
    alpha: float = 0.5


def check_student(teacher_model, student_model, n_features: int, teacher_vocab: int, student_vocab: int) -> None:
    import torch

    if teacher_vocab != student_vocab:
        raise SpeechoptError(f"student vocabulary ({student_vocab} symbols) differs from the teacher's ({teacher_vocab})")
    feats = torch.zeros(1, 101, n_features)
    lengths = torch.tensor([101])
    with torch.no_grad():
        t = teacher_model(feats, lengths)[0].shape[1]
        s = student_model(feats, lengths)[0].shape[1]
    if t != s:
        raise SpeechoptError(f"teacher emits {t} frames and the student {s} for the same 101 input frames: "
                             "frame-level distillation needs equal frame rates (choose a student with the "
                             "teacher's time subsampling)")


def kl_hook(teacher_model, temperature: float, alpha: float, precision: str = "fp32"):
    """A `train_asr` loss hook adding the temperature-softened KL to the teacher's posteriors; the teacher's
    forward pass runs at `precision` (the student's), the KL in fp32."""
    import torch

    from speechopt.train_state import autocast

    def hook(ctc_loss, student_log_probs, feats, lengths):
        with torch.no_grad(), autocast(precision):
            teacher_log_probs, out_lengths = teacher_model(feats, lengths)
        with torch.no_grad():
            t = torch.log_softmax(teacher_log_probs.float() / temperature, dim=-1)
        s = torch.log_softmax(student_log_probs / temperature, dim=-1)
        mask = (torch.arange(s.shape[1])[None, :] < out_lengths[:, None]).to(s.dtype)
        kl = (t.exp() * (t - s)).sum(-1)
        kl = (kl * mask).sum() / mask.sum().clamp(min=1.0)
        return (1.0 - alpha) * ctc_loss + alpha * temperature**2 * kl

    return hook


def distill(teacher_path, settings: DistillSettings, train_settings, data, val_data, out, resume=False,
            overwrite=False, log=print):
    """Train `settings.student_arch` from the teacher artifact; returns the student artifact."""
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.models.registry import get_architecture
    from speechopt.tasks.asr import tokenizer
    from speechopt.train import train_asr

    if not 0.0 <= settings.alpha <= 1.0:
        raise SpeechoptError(f"--alpha must be in [0, 1], got {settings.alpha}")
    if settings.temperature <= 0:
        raise SpeechoptError(f"--temperature must be positive, got {settings.temperature}")
    teacher = load_artifact(teacher_path)
    if teacher.task != "asr" or teacher.format != "pytorch":
        raise SpeechoptError(f"{teacher.path}: the teacher must be a pytorch ASR artifact")
    teacher_model = load_pytorch_model(teacher)
    t_config = teacher.architecture["config"]
    if train_settings.init_from:  # e.g. a structured-pruned copy of the teacher: its shape is the student's
        start = load_artifact(train_settings.init_from)
        if settings.student_arch not in (None, start.architecture["name"]):
            raise SpeechoptError(f"{start.path} is a {start.architecture['name']}, not a {settings.student_arch}: "
                                 "drop --student-arch or start from a matching artifact")
        if settings.student_config:
            raise SpeechoptError("--init-from gives the student's configuration: drop --student-config")
        settings.student_arch = start.architecture["name"]
        settings.student_config = dict(start.architecture["config"])
    if settings.student_arch is None:
        raise SpeechoptError("give --student-arch (or --init-from a student to start from)")
    arch = get_architecture(settings.student_arch)
    config = {"n_features": t_config["n_features"], "vocab_size": t_config["vocab_size"], **settings.student_config}
    student = arch.build(config).eval()
    check_student(teacher_model, student, t_config["n_features"], len(tokenizer(teacher)),
                  arch.full_config(config)["vocab_size"])
    train_settings.arch = settings.student_arch
    train_settings.config = config
    train_settings.frontend = teacher.manifest["frontend"]
    return train_asr(train_settings, data, out, val_data=val_data, resume=resume, overwrite=overwrite, log=log,
                     teacher=teacher, distill=kl_hook(teacher_model, settings.temperature, settings.alpha,
                                     train_settings.precision),
                     extra_settings={"distill": asdict(settings)})
