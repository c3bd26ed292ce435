"""Options have one source: the config fields give the CLI flags, their defaults, help and docs table."""

import dataclasses

import pytest
import typer
from typer.testing import CliRunner

from disentkit.cli import app
from disentkit.options import EXPERIMENTAL, field_help, option, options, options_markdown, with_options
from disentkit.train.config import PRESETS, TrainConfig
from disentkit.transfer.config import TransferConfig

CONFIGS = {"train": TrainConfig, "transfer": TransferConfig}


def _command(name):
    return typer.main.get_command(app).commands[name]


def _help(name):
    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "250"}, terminal_width=250)
    assert result.exit_code == 0
    return result.output


@pytest.mark.parametrize("cls", CONFIGS.values())
def test_every_field_has_help(cls):
    for field in dataclasses.fields(cls):
        assert field.metadata.get("help", "").strip(), f"{cls.__name__}.{field.name} has no help"


def test_a_field_without_help_is_an_error():
    @dataclasses.dataclass
    class Half:
        documented: int = option(1, help="Has help.")
        bare: int = 2

    with pytest.raises(TypeError, match="Half.bare has no help"):
        options(Half)
    with pytest.raises(TypeError, match="bare has no help"):
        with_options(Half)(lambda **kw: None)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_cli_field_is_a_flag_with_its_default(name):
    params = {p.name: p for p in _command(name).params}
    text = _help(name)
    for opt in options(CONFIGS[name], cli_only=True):
        assert opt.name in params, f"{opt.name} is not an option of `disentkit {name}`"
        param = params[opt.name]
        assert opt.flag_name in param.opts and opt.flag_name in text
        required = opt.cli_default() is ...
        expected = None if required else opt.cli_default()
        assert param.default == expected and param.required == required
        if not required:  # the flag's default, parsed back, is the field's default
            assert opt.from_cli(expected) == opt.default, opt.name
        if expected not in (None, False):  # the help shows a default where there is one
            assert f"[default: {expected}]" in text, opt.name
        assert opt.help.split()[0] in text


def test_the_experimental_options_have_their_own_help_panel():
    experimental = [opt for opt in options(TrainConfig) if opt.experimental]
    assert {opt.name for opt in experimental} == {"lr_decay", "head_decay", "agreement", "sparsity"}
    text = _help("train")
    panel = text[text.index("─ Experimental ") :]
    main_panel = text[: text.index("─ Experimental ")]
    for opt in experimental:
        assert opt.flag_name in panel and opt.flag_name not in main_panel
        assert opt.help.startswith("experimental: ")
    # the help quotes the preset's value: a change of one without the other fails here
    assert f"cpu-quick: {PRESETS['cpu-quick']['sparsity']:g}" in field_help(TrainConfig, "sparsity")


@pytest.mark.parametrize("cls", CONFIGS.values())
def test_options_markdown_lists_every_field(cls):
    text = options_markdown(cls)
    stable, _, experimental = text.partition("**Experimental**")
    for opt in options(cls):
        shown = opt.flag_name if opt.cli or opt.flag else opt.name
        assert f"`{shown}" in (experimental if opt.group == EXPERIMENTAL else stable), opt.name
        assert opt.help.replace("|", "\\|") in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(dataclasses.fields(cls))


def test_train_cli_values_become_the_config(cli, tmp_path, monkeypatch):
    """--clip 0 is no clipping, --cpu-shards 0 is auto, --k parses, typed options beat the preset."""
    seen = {}

    def fake_train(config, out, **kwargs):
        seen["config"], seen["kwargs"] = config, kwargs
        return out

    monkeypatch.setattr("disentkit.train.loop.train", fake_train)
    args = ["train", "--out", tmp_path / "r", "--clip", "0", "--cpu-shards", "0", "--k", "random"]
    assert cli([*args, "--preset", "cpu-quick", "--batch", "4", "--sparsity", "2"]) == 0
    config = seen["config"]
    assert (config.clip, config.cpu_shards, config.k, config.preset) == (None, None, "random", "cpu-quick")
    assert (config.batch, config.sparsity, config.steps, config.method) == (4, 2.0, 6000, "gvae-labels")
    assert cli(["train", "--out", tmp_path / "d"]) == 0
    defaults = dataclasses.replace(TrainConfig(), preset=None)
    assert seen["config"] == defaults  # no flag typed: the dataclass's own defaults
    assert cli(["train", "--out", tmp_path / "r", "--resume", "--k", "2", "--clip", "0"]) == 0
    assert seen["config"] is None and seen["kwargs"]["changes"] == {"k": 2, "clip": None}


def test_train_cli_bad_k_is_one_line(cli, tmp_path, capsys):
    assert cli(["train", "--out", tmp_path / "r", "--k", "two"]) == 2
    err = capsys.readouterr().err
    assert "--k must be a positive integer or 'random', got 'two'" in err and "Traceback" not in err


def test_transfer_cli_values_become_the_config(cli, tmp_path, monkeypatch):
    seen = {}

    def fake_transfer(config, out, fresh=False):
        seen["config"], seen["fresh"] = config, fresh
        return {"table": [], "status": "complete"}

    monkeypatch.setattr("disentkit.transfer.core.run_transfer", fake_transfer)
    args = ["transfer", "--source", "./runs/src/", "--target", "noisy-dsprites", "--out", tmp_path / "t"]
    assert cli([*args, "--classifiers", "hgb, mlp", "--target-option", "resolution=128", "--fresh"]) == 0
    config = seen["config"]
    assert (config.source, config.classifiers, config.target_options) == (
        "runs/src",
        ("hgb", "mlp"),
        {"resolution": 128},
    )
    assert seen["fresh"] and config.beta is None and config.steps == TransferConfig.steps == 2000
    assert cli(args) == 0
    assert seen["config"].classifiers == ("gbt", "mlp") and not seen["fresh"]
