"""A group's fine-tuned models through the emulator: choosing one in /generate and /compare,
listing versions, downloading the adapter and loading it with peft, built-in examples."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile

import torch

from model_runner.loading import load_model
from model_runner.protocol import DecodingParams, Generate
from tests.e2e.test_finetune_jobs import RECIPES, fill_pool, wait_for_text

PROMPT = "Whisk 3 eggs"


async def trained_group(lab, name="Ada", version=1):
    """A member of Group 1 whose group has a finished fine-tune."""
    ada = lab.actor(name, roles=["Group 1"])
    if version == 1:
        await fill_pool(ada)
    await ada.slash("finetune start", epochs=2, learning_rate=0.01)
    await wait_for_text(lab, f"v{version}** fine-tune finished")
    return ada


async def test_generate_and_compare_with_the_groups_model(lab):
    ada = await trained_group(lab)
    done = (await wait_for_text(lab, "v1** fine-tune finished")).text()
    # What the run showed besides its training loss (24 sentences: 2 held out).
    assert "**Held out:** 2 sentences of the pool were not trained on" in done
    assert "**Forgetting:** loss on a general passage" in done
    assert "**LoRA's size:**" in done and "weights trained of the model's" in done
    tuned = await ada.slash("generate", prompt=PROMPT, max_tokens=8, model="fine-tuned")
    assert tuned.message.embeds[0]["title"] == "Greedy · Fine-tuned v1"
    settings = {f["name"]: f["value"] for f in tuned.message.embeds[0]["fields"]}["Settings"]
    assert "min_new_tokens=5" in settings  # a fine-tuned model must write 5 tokens first
    own = await ada.slash("generate", prompt=PROMPT, max_tokens=8, model="v1", min_tokens=0)
    assert "min_new_tokens" not in own.message.embeds[0]["fields"][0]["value"]
    base = await ada.slash("generate", prompt=PROMPT, max_tokens=8)
    assert base.message.embeds[0]["title"] == "Greedy"
    assert "min_new_tokens" not in base.message.embeds[0]["fields"][0]["value"]
    too_many = await ada.slash("generate", prompt=PROMPT, max_tokens=8, min_tokens=9)
    assert too_many.ephemeral and "min_tokens must be between 0 and 8" in too_many.text
    methods = await ada.slash("compare", prompt=PROMPT, max_tokens=8, min_tokens=3)
    assert methods.ephemeral and "min_tokens is for models:" in methods.text
    missing = await ada.slash("generate", prompt=PROMPT, model="v7")
    assert missing.ephemeral and "v1" in missing.text and "pre-trained" in missing.text

    reply = await ada.slash("compare", prompt=PROMPT, max_tokens=8, models="models")
    fields = reply.message.embeds[0]["fields"]
    names = [f["name"] for f in fields]
    assert names[:3] == ["Pre-trained", "In-context (4 examples)", "Fine-tuned v1"]
    assert "Whisk" in fields[3]["value"]  # the examples the in-context column used
    assert "kind:Fine-tuned on your own sentences" in reply.message.embeds[0]["footer"]["text"]
    export = await ada.slash("table export", kind="finetune")
    files = {f.filename: f.data.decode() for f in export.message.files}
    rows = list(csv.DictReader(io.StringIO(files["group-1-finetune-own.csv"])))
    assert rows[0]["Prompt"] == PROMPT and rows[0]["Fine-tuned version"] == "v1"
    assert rows[0]["In-context examples"].count(" / ") == 3
    assert (rows[0]["Method"], rows[0]["Max tokens"], rows[0]["Seed"]) == ("Greedy", "8", "none")
    before, after = rows[0]["Held-out perplexity (pre-trained → fine-tuned)"].split(" → ")
    assert float(before) > 0 and float(after) > 0
    listing = await ada.slash("finetune models")
    assert "held-out perplexity" in listing.message.embeds[0]["description"]
    assert "on your own sentences" in files["group-1-finetune-own.md"].splitlines()[0]


async def test_example_and_own_sentence_rows_go_to_two_tables(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    await ada.slash("finetune example", name="full-stop", epochs=1)
    await wait_for_text(lab, "v1** fine-tune finished")
    example = await ada.slash(
        "compare", prompt=PROMPT, max_tokens=5, models="models", method="sampling", seed=9
    )
    assert "kind:Fine-tuned on a built-in example" in example.message.embeds[0]["footer"]["text"]
    empty = await ada.slash("table show", kind="finetune")
    assert empty.ephemeral and "table is empty (Pre-trained vs fine-tuned on your own" in empty.text

    await fill_pool(ada)
    await ada.slash("finetune start", epochs=1, learning_rate=0.01)
    await wait_for_text(lab, "v2** fine-tune finished")
    await ada.slash("compare", prompt="Fold in the flour", max_tokens=4, models="models")

    shown = await ada.slash("table show", kind="example")
    assert "Group 1: 1 prompt" in shown.text and "built-in example" in shown.text
    assert "Example dataset:** full-stop" in shown.text and "Fold in" not in shown.text
    assert "Random Sampling · max tokens 5 · seed 9*" in shown.text
    own = await ada.slash("table show", kind="finetune")
    assert "Group 1: 1 prompt" in own.text and "Fold in the flour" in own.text
    assert PROMPT not in own.text and "Greedy · max tokens 4*" in own.text

    export = await ada.slash("table export", kind="example")
    files = {f.filename: f.data.decode() for f in export.message.files}
    [row] = list(csv.DictReader(io.StringIO(files["group-1-finetune-example.csv"])))
    assert (row["Prompt"], row["Fine-tuned version"], row["Example dataset"]) == (
        PROMPT,
        "v1",
        "full-stop",
    )
    assert (row["Method"], row["Max tokens"], row["Seed"]) == ("Random Sampling", "5", "9")
    export = await ada.slash("table export", kind="finetune")
    files = {f.filename: f.data.decode() for f in export.message.files}
    [row] = list(csv.DictReader(io.StringIO(files["group-1-finetune-own.csv"])))
    assert (row["Prompt"], row["Fine-tuned version"]) == ("Fold in the flour", "v2")


async def test_autocomplete_offers_the_groups_versions(lab):
    ada = await trained_group(lab)
    choices = await ada.autocomplete("generate", "model", "", prompt=PROMPT)
    assert [c["value"] for c in choices] == ["pre-trained", "fine-tuned", "v1"]
    assert "24 sentences" in choices[2]["name"]
    loner = lab.actor("Loner")
    assert [c["value"] for c in await loner.autocomplete("generate", "model")] == ["pre-trained"]
    # Two group roles: autocomplete still answers; the command says what is wrong.
    dee = lab.actor("Dee", roles=["Group 1", "Group 2"])
    assert [c["value"] for c in await dee.autocomplete("generate", "model")] == ["pre-trained"]
    refused = await dee.slash("generate", prompt=PROMPT, model="fine-tuned")
    assert refused.ephemeral and "more than one group role" in refused.text


async def test_models_lists_versions_and_download_loads_with_peft(lab, tmp_path):
    ada = await trained_group(lab)
    listing = await ada.slash("finetune models")
    assert "v1: your pool, 24 sentences" in listing.text and "✅ done" in listing.text
    # Only v1 exists: the hint names it, not a v2 that is not there.
    assert "/generate model:v1" in listing.text and "version:1;" in listing.text
    assert "v2" not in listing.text and "version:2" not in listing.text
    missing = await ada.slash("finetune download", version=7)
    assert missing.ephemeral and "no finished version v7: it has v1" in missing.text
    nothing = await lab.actor("Bo", roles=["Group 2"]).slash("finetune download")
    assert nothing.ephemeral and "no finished fine-tune yet" in nothing.text
    assert "None" not in nothing.text
    reply = await ada.slash("finetune download")
    (archive,) = reply.message.files
    assert archive.filename == "group-1-v1-lora.zip"
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        zipped.extractall(tmp_path / "unzipped")
    folder = next(p.parent for p in (tmp_path / "unzipped").rglob("adapter_config.json"))

    from peft import PeftModel

    base = load_model("tiny", device="cpu", data_dir=tmp_path / "models")
    model = PeftModel.from_pretrained(base.model, str(folder)).eval()
    record = await lab.bot.db.fetchone("SELECT adapter FROM finetune_jobs")
    expected = await lab.bot.runner.call(
        Generate(PROMPT, DecodingParams(max_new_tokens=8), record["adapter"])
    )
    ids = base.tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=0)
    assert out[0, ids.shape[1] :].tolist() == expected.token_ids


def test_the_models_hint_names_only_versions_that_exist():
    from bot.exts.finetune._cog import models_footer

    assert "model:v3" in models_footer([1, 3, 2]) and "version:3" in models_footer([3, 1])
    none_yet = models_footer([])
    assert "No version has finished yet" in none_yet and "model:fine-tuned" in none_yet
    assert "model:v" not in none_yet and "version:" not in none_yet


async def test_a_built_in_example_trains_and_ends_with_its_takeaway(lab):
    ada = lab.actor("Ada", roles=["Group 2"])
    reply = await ada.slash("finetune example", name="full-stop", epochs=1)
    assert "fine-tuning on the example" in reply.text and "(1 epoch," in reply.text
    assert reply.message.embeds[0]["title"].startswith("Example: ")
    done = await wait_for_text(lab, "v1** fine-tune finished")
    assert "Key takeaway" in [f["name"] for f in done.embeds[0]["fields"]]
    listing = await ada.slash("finetune models")
    assert 'example "full-stop"' in listing.text


async def test_the_word_list_blocks_sentences(lab):
    teacher = lab.actor("Ms Rivera", roles=["Instructor"])
    ada = lab.actor("Ada", roles=["Group 1"])
    await fill_pool(ada, RECIPES[:20] + ["Spam fritters are golden and crisp."])
    shown = await teacher.slash("lab blockwords", add="spam, deep fry")
    assert shown.ephemeral and "`spam`, `deep fry`" in shown.text
    refused = await ada.slash("finetune add", text="I like SPAM on toast.")
    assert refused.ephemeral and "blocked" in refused.text
    mixed = await ada.slash("finetune add", text="A hamster ate the spamalot.\nWe deep  fry it.")
    assert "Added 1 sentence" in mixed.text and "Sentence 2 uses a word" in mixed.text
    # Added before the word was blocked: the run cannot start until it is removed.
    start = await ada.slash("finetune start")
    assert start.ephemeral and "Sentence 21 of Group 1's pool" in start.text
    await ada.slash("finetune remove", number=21)
    assert "fine-tuning on 21 sentences" in (await ada.slash("finetune start", epochs=1)).text
    student = await ada.slash("lab blockwords", add="eggs")
    assert student.ephemeral and "for instructors only" in student.text


async def test_runs_wait_for_approval_when_required(lab):
    teacher = lab.actor("Ms Rivera", roles=["Instructor"])
    await teacher.slash("lab approval", required=True)
    ada = lab.actor("Ada", roles=["Group 1"])
    await fill_pool(ada)
    waiting = await ada.slash("finetune start", epochs=1)
    assert "waiting for an instructor to approve" in waiting.text
    assert waiting.message.files[0].filename == "sentences.txt"
    assert b"1. Whisk 0 eggs" in waiting.message.files[0].data
    again = await ada.slash("finetune start")
    assert again.ephemeral and "already has a fine-tune waiting" in again.text
    denied = await ada.click("Approve", message=waiting.message)
    assert denied.ephemeral and "for instructors only" in denied.text

    await teacher.click("Decline", message=waiting.message)
    assert "Declined by" in lab.emulator.messages[waiting.message.id].text()
    assert (await lab.bot.db.fetchone("SELECT status FROM finetune_jobs"))["status"] == "declined"

    second = await ada.slash("finetune start", epochs=1)
    await teacher.click("Approve", message=second.message)
    await wait_for_text(lab, "v2** fine-tune finished")
    record = await lab.bot.db.fetchone("SELECT * FROM finetune_jobs WHERE version = 2")
    assert record["approved_by"] == teacher.member.id and record["started_by"] == ada.member.id
    # Who started and who approved a run is personal data: exported, and removed on request.
    import json

    mine = json.loads((await teacher.slash("privacy export")).message.files[0].data)
    assert [(r["version"], r["approved"]) for r in mine["finetune_runs"]] == [(2, 1)]
    assert mine["finetune_runs"][0]["results"]["held_out"]  # what the run measured, too
    await ada.slash("privacy delete")
    await ada.click("Delete my data")
    record = await lab.bot.db.fetchone("SELECT started_by FROM finetune_jobs WHERE version = 2")
    assert record["started_by"] is None


async def test_a_built_in_example_waits_for_approval_too(lab):
    teacher = lab.actor("Ms Rivera", roles=["Instructor"])
    turned_on = await teacher.slash("lab approval", required=True)
    assert "/finetune example" in turned_on.text  # the setting says examples wait as well
    ada = lab.actor("Ada", roles=["Group 2"])
    waiting = await ada.slash("finetune example", name="full-stop", epochs=1)
    assert (
        'the example "' in waiting.text and "waiting for an instructor to approve" in waiting.text
    )
    assert waiting.message.embeds[0]["title"].startswith("Example: ")  # what it would learn
    assert waiting.message.files[0].filename == "sentences.txt"
    record = await lab.bot.db.fetchone("SELECT status, example FROM finetune_jobs")
    assert (record["status"], record["example"]) == ("awaiting", "full-stop")
    await asyncio.sleep(0.3)
    assert not any("fine-tune finished" in m.text() for m in lab.emulator.messages.values())

    await teacher.click("Approve", message=waiting.message)
    done = await wait_for_text(lab, "v1** fine-tune finished")
    assert "Key takeaway" in [f["name"] for f in done.embeds[0]["fields"]]
    record = await lab.bot.db.fetchone("SELECT approved_by FROM finetune_jobs")
    assert record["approved_by"] == teacher.member.id

    await teacher.slash("lab approval", required=False)
    started = await ada.slash("finetune example", name="recipes", epochs=1)
    assert "Progress below" in started.text and "waiting" not in started.text


async def test_approve_still_works_after_a_bot_restart(tmp_path):
    from tests.e2e.conftest import running_lab

    async with running_lab(tmp_path) as lab:
        teacher = lab.actor("Ms Rivera", roles=["Instructor"])
        await teacher.slash("lab approval", required=True)
        ada = lab.actor("Ada", roles=["Group 1"])
        await fill_pool(ada)
        waiting = await ada.slash("finetune start", epochs=1)
        await lab.restart_bot()
        await teacher.click("Approve", message=waiting.message)
        await wait_for_text(lab, "v1** fine-tune finished")
