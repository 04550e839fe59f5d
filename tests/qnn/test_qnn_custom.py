"""model=custom (any nn.Module factory), quantization of any module, the cohort engine's torch.func
check, and the token model char_lstm."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import fedsim
from fedsim import _warn
from fedsim.data import Dataset, load_dataset
from fedsim.errors import ConfigError
from fedsim.qnn import QuantConv2d, QuantLinear, build_model, profile_model, set_precision
from fedsim.tasks import build_task
from fedsim.tasks._cohort_training import cohort_unsupported, float64_equivalence
from fedsim.tasks._local_training import train_locally

NETS = "qnn_custom_nets"  # tests/qnn/qnn_custom_nets.py
TINY = ["world.num_devices=6", "op.devices_per_round=2", "rounds=1", "op.local_iters=2"]


def custom(target: str, **kwargs) -> nn.Module:
    return build_model("custom", (1, 8, 8), 10, seed=0, target=f"{NETS}:{target}", kwargs=kwargs)


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(_warn, "_WARNED", set())


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits", seed=0).train


def test_the_factory_gets_input_shape_num_classes_and_vocab_size_only_when_it_names_them():
    assert custom("TinyNet").net[1].in_features == 64  # input_shape=(1, 8, 8), num_classes=10
    assert custom("TinyNet", width=5).net[1].out_features == 5
    assert custom("tiny_cnn", channels=2)[0].out_channels == 2  # a function naming num_classes only
    given = build_model("custom", (1, 8, 8), 10, seed=0, target=f"{NETS}:needs_vocab", vocab_size=None).given
    assert given == ((1, 8, 8), 10, None)
    given = build_model("custom", (1, 8, 8), 10, seed=0, target=f"{NETS}:needs_vocab", kwargs={"vocab_size": 7}).given
    assert given == ((1, 8, 8), 10, 7)  # kwargs win


def test_target_and_kwargs_of_a_built_in_model_are_a_warning_not_an_error(fresh_warnings, capfd):
    config = fedsim.compose(["model.target=collections:OrderedDict", "model.kwargs={width: 3}"])  # a sweep over models may set them
    assert config.model.name == "mlp"
    assert capfd.readouterr().err.splitlines() == [
        "fedsim: warning: model.target='collections:OrderedDict' has no effect here: it applies to model=custom",
        "fedsim: warning: model.kwargs={'width': 3} has no effect here: it applies to model=custom",
    ]


def test_same_seed_same_weights_as_build_model_does():
    def weights(seed):
        return build_model("custom", (1, 8, 8), 10, seed=seed, target=f"{NETS}:TinyNet").state_dict()

    a, b, c = weights(3), weights(3), weights(4)
    assert all(torch.equal(a[k], b[k]) for k in a) and not all(torch.equal(a[k], c[k]) for k in a)
    state = torch.random.get_rng_state()
    weights(5)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is left alone


@pytest.mark.parametrize(
    ("target", "kwargs", "fragment"),
    [
        ("not_a_module", {}, "a factory returning a torch.nn.Module, not a dict"),
        ("TinyNet", {"width": -1}, "it raised RuntimeError"),
        ("TinyNet", {"depth": 2}, "it raised TypeError: TinyNet.__init__() got an unexpected keyword argument 'depth'"),
        ("wide_output", {}, "(1, 10) logits, not (1, 11)"),
        ("tiny_cnn", {"num_classes": 10, "channels": 1}, None),  # builds
    ],
)
def test_a_factory_that_fails_or_builds_the_wrong_thing_is_one_line(target, kwargs, fragment):
    if fragment is None:
        custom(target, **kwargs)
        return
    with pytest.raises(ConfigError) as error:
        custom(target, **kwargs)
    message = str(error.value)
    assert message.startswith(f"model.target='{NETS}:{target}' is not allowed: ") and fragment in message and "\n" not in message


def test_a_forward_that_fails_on_one_example_names_the_input_shape():
    with pytest.raises(ConfigError, match=r"inputs of shape \(1, 1, 28, 28\) \(it raised RuntimeError: mat1 and mat2"):
        build_model("custom", (1, 28, 28), 10, seed=0, target=f"{NETS}:tiny_cnn")


def test_linear_and_conv_layers_become_quantized_and_n_bits_change_training(digits):
    model = custom("tiny_cnn")
    assert type(model[0]) is QuantConv2d and type(model[3]) is QuantLinear
    assert list(model.state_dict()) == list(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10)).state_dict())
    data = digits.subset(np.arange(64))
    trained = {}
    for bits in (4, 32):
        m = custom("tiny_cnn")
        train_locally(m, data, iterations=3, batch_size=16, lr=0.1, momentum=0.9, train_bits=bits, rounding="nearest",
                      generator=torch.Generator().manual_seed(0))
        trained[bits] = m.state_dict()["3.weight"]
    assert not torch.allclose(trained[4], trained[32])


def test_layers_quantization_cannot_reach_are_named_in_one_warning(fresh_warnings, capfd):
    model = custom("RowLSTM")
    set_precision(model, 32)
    assert capfd.readouterr().err == ""  # full precision: nothing to say
    set_precision(model, 4)
    set_precision(model, 6)
    lines = capfd.readouterr().err.splitlines()
    assert lines == ["fedsim: warning: RowLSTM keeps the parameters of lstm (LSTM) in float32: "
                     "n-bit training quantizes only Linear and Conv layers"]


def test_a_custom_model_trains_as_a_cohort_like_the_sequential_engine():
    task = build_task(fedsim.compose(["model=custom", f"model.target={NETS}:TinyNet", "world.num_devices=20"]))
    assert task.cohort_unsupported() is None
    out = float64_equivalence(task, [0, 19], 1, train_bits=8, iterations=3, rounding="stochastic")
    assert out["cohort_max_rel_diff"] <= 1e-5
    assert max(float(np.abs(u).max()) for u in out["sequential_updates"][0]) > 1e-3  # it trained


@pytest.mark.parametrize(
    ("target", "reason"),
    [("RowLSTM", "torch.func has no batching rule for aten::mkldnn_rnn_layer in lstm (LSTM)"),
     ("WithDropout", "torch.func cannot train it: RuntimeError: vmap: called random operation")],
)
def test_a_custom_model_torch_func_cannot_train_says_why(target, reason):
    task = build_task(fedsim.compose(["model=custom", f"model.target={NETS}:{target}", *TINY]))
    assert reason in task.cohort_unsupported()


def test_dropout_draws_are_seeded_by_the_devices_stream(digits):
    data = digits.subset(np.arange(32))
    states = []
    for _ in range(2):
        model = custom("WithDropout")
        before = torch.random.get_rng_state()
        train_locally(model, data, iterations=2, batch_size=8, lr=0.1, momentum=0.0, train_bits=32, rounding="nearest",
                      generator=torch.Generator().manual_seed(11))
        assert torch.equal(torch.random.get_rng_state(), before)
        torch.rand(3)  # the global generator moves on; the next device's draws must not
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def _tokens(n: int = 12, length: int = 6, vocab: int = 11) -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(x=rng.integers(0, vocab, (n, length)), y=rng.integers(0, 5, n), num_classes=5, name="tokens", vocab_size=vocab)


def test_char_lstm_reads_tokens_and_refuses_images_and_vice_versa(fresh_warnings, capfd):
    data = _tokens()
    model = build_model("char_lstm", data.input_shape, 5, seed=0, hidden=(8, 8), vocab_size=data.vocab_size)
    assert model(torch.from_numpy(data.x[:3])).shape == (3, 5)
    train_locally(model, data, iterations=1, batch_size=4, lr=0.1, momentum=0.9, train_bits=4, rounding="stochastic",
                  generator=torch.Generator().manual_seed(0))
    assert "embed (Embedding), lstm.0 (LSTM), lstm.1 (LSTM) in float32" in capfd.readouterr().err
    assert "lstm.0 (LSTM)" in cohort_unsupported("sgd", model, data)
    assert profile_model(model, data.input_shape, tokens=True).macs > 0
    with pytest.raises(ConfigError, match=r"model.name='char_lstm' is not allowed: a model for the dataset's images of shape \(1, 8, 8\)"):
        build_model("char_lstm", (1, 8, 8), 10, seed=0)
    for name in ("cnn", "resnet8", "mlp"):
        with pytest.raises(ConfigError, match=rf"model.name='{name}' is not allowed: a model for the dataset's token ids of shape \(6,\)"):
            build_model(name, (6,), 5, seed=0, vocab_size=11)
    with pytest.raises(ConfigError, match=r"model.name='resnet8' is not allowed: a model for the dataset's features of shape \(64,\)"):
        build_model("resnet8", (64,), 10, seed=0)


def test_char_lstm_runs_on_token_data_as_a_cohort_falling_back_to_sequential(tmp_path, fresh_warnings, capfd):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tokens.npz", x_train=rng.integers(0, 9, (40, 6)), y_train=rng.integers(0, 9, 40),
             x_test=rng.integers(0, 9, (8, 6)), y_test=rng.integers(0, 9, 8))
    config = fedsim.compose(["dataset=npz", f"dataset.path={tmp_path / 'tokens.npz'}", "model=char_lstm", "model.hidden=[8,8]",
                             "op.train_bits=4", "engine=cohort", *TINY])
    result = fedsim.run(config, tmp_path / "run")
    err = capfd.readouterr().err
    assert "QuantCharLSTM keeps the parameters of embed (Embedding), lstm.0 (LSTM), lstm.1 (LSTM) in float32" in err
    assert "model char_lstm cannot be vmapped (torch.func has no batching rule for aten::mkldnn_rnn_layer in lstm.0 (LSTM)" in err
    workload = build_task(config).workload
    assert workload.macs == 6 * 4 * 8 * (8 + 8) * 2 + 8 * 9 and workload.backward_macs < 2 * workload.macs
    assert result.summary["total_energy_j"] > 0


@pytest.mark.parametrize("name", ["cifar_cnn", "resnet8"])
def test_the_cifar_models_train_and_run_as_a_cohort_on_8x8_digits(name, digits):
    model = build_model(name, (1, 8, 8), 10, seed=0)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert cohort_unsupported("sgd", model, digits) is None
