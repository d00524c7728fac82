import dataclasses
import functools

import pytest
import torch

from frugalml.errors import InputError, TechniqueError
from frugalml.reduce import Distill, count_params
from frugalml.train import evaluate, fit, mlp

from .conftest import state


def test_student_is_smaller_and_learns(vec_data, trained_mlp):
    t = Distill(student_width=0.25, epochs=6)
    student = t.apply(trained_mlp, vec_data)
    assert student[0].out_features == 8
    assert t.student_params_ == count_params(student)
    assert t.teacher_params_ == count_params(trained_mlp)
    assert t.param_reduction_ >= 4
    assert t.teacher_trained_in_apply_ is False
    assert t.report()["teacher_trained_in_apply"] == 0
    assert evaluate(student, vec_data.X_val, vec_data.y_val) > 0.8


def test_alpha_zero_is_plain_training(vec_data, trained_mlp):
    student = Distill(student_width=0.5, alpha=0.0, epochs=2).apply(trained_mlp, vec_data)
    torch.manual_seed(vec_data.seed)
    plain = vec_data.make_model(width=0.5)
    fit(plain, vec_data, epochs=2)
    for a, b in zip(student.parameters(), plain.parameters()):
        assert torch.allclose(a, b)


def test_soft_targets_change_the_student(vec_data, trained_mlp):
    a = Distill(alpha=0.0, epochs=1).apply(trained_mlp, vec_data)
    b = Distill(alpha=0.9, epochs=1).apply(trained_mlp, vec_data)
    assert not torch.equal(a[0].weight, b[0].weight)


def test_needs_a_model_factory(vec_data, trained_mlp):
    no_factory = dataclasses.replace(vec_data, make_model=None)
    with pytest.raises(InputError, match=r"distill builds a student .*make_model="):
        Distill().apply(trained_mlp, no_factory)


def test_factory_without_width_is_explained(vec_data, trained_mlp):
    rigid = dataclasses.replace(vec_data, make_model=lambda: mlp(16, 8, 3))
    with pytest.raises(TechniqueError, match="width"):
        Distill().apply(trained_mlp, rigid)


def test_student_of_cnn(img_data, trained_cnn):
    t = Distill(student_width=0.5, epochs=1)
    student = t.apply(trained_cnn, img_data)
    assert student(img_data.X_val).shape == (len(img_data.X_val), 3)
    assert t.param_reduction_ > 3


def test_partial_factory_works(vec_data, trained_mlp):
    data = dataclasses.replace(vec_data, make_model=functools.partial(mlp, 16, 32, 3, 2))
    assert Distill(epochs=1).apply(trained_mlp, data)[0].out_features == 8


def test_pruned_teacher_student_starts_from_the_strongest_filters(img_data, trained_cnn):
    before = state(trained_cnn)
    t = Distill(student_width=0.5, init="pruned-teacher", epochs=0)
    student = t.apply(trained_cnn, img_data)
    convs = [m for m in student if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [4, 8, 8]
    # untrained (epochs=0): the first conv's filters are the teacher's largest-L1 half
    teacher_w = trained_cnn[0].weight
    kept = teacher_w.abs().sum(dim=(1, 2, 3)).topk(4).indices
    assert torch.equal(convs[0].weight, teacher_w[kept.sort().values])
    assert t.param_reduction_ > 3
    assert all(torch.equal(v, before[k]) for k, v in trained_cnn.state_dict().items())
    student = Distill(student_width=0.5, init="pruned-teacher", epochs=1).apply(
        trained_cnn, img_data
    )
    assert student(img_data.X_val).shape == (len(img_data.X_val), 3)


def test_pruned_teacher_needs_no_factory_and_a_width_below_one(vec_data, trained_mlp):
    no_factory = dataclasses.replace(vec_data, make_model=None)
    student = Distill(init="pruned-teacher", epochs=1).apply(trained_mlp, no_factory)
    assert student[0].out_features == 8
    with pytest.raises(InputError, match="student_width"):
        Distill(student_width=1.5, init="pruned-teacher").apply(trained_mlp, vec_data)
