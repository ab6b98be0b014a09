"""A group's sentence pool through the emulator: add, paste, upload, list, remove, clear."""

from __future__ import annotations

from discord_emulator import Upload

SENTENCES = [f"Whisk {n} eggs and fold in the sugar." for n in range(1, 6)]


async def test_members_of_a_group_share_one_pool(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    bea = lab.actor("Bea", roles=["Group 1"])
    assert (
        "Added 1 sentence to Group 1's pool (1 in all)"
        in (await ada.slash("finetune add", text=SENTENCES[0])).text
    )
    await bea.slash("finetune add", text=SENTENCES[1])
    pool = await bea.slash("finetune pool")
    assert "Group 1's pool: 2 sentences" in pool.text
    assert f"1.** {SENTENCES[0]}" in pool.text.replace("\\", "")
    assert f"<@{ada.member.id}>" in pool.text  # who added it (no ping: allowed_mentions)
    other = await lab.actor("Cy", roles=["Group 2"]).slash("finetune pool")
    assert other.ephemeral and "Group 2's pool is empty" in other.text


async def test_paste_many_and_duplicates_are_reported(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    await ada.slash("finetune add", text=SENTENCES[0])
    await ada.slash("finetune paste")
    reply = await ada.submit_modal({"One sentence per line": "\n".join(SENTENCES) + "\n\n"})
    assert "Added 4 sentences" in reply.text and "(5 in all)" in reply.text
    assert "1 already in the pool, skipped" in reply.text


async def test_upload_a_text_file(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    data = ("\ufeff" + "\r\n".join(SENTENCES)).encode()
    reply = await ada.slash("finetune upload", file=Upload("recipes.txt", data, "text/plain"))
    assert "Added 5 sentences" in reply.text
    wrong = await ada.slash("finetune upload", file=Upload("recipes.pdf", b"%PDF", "app/pdf"))
    assert wrong.ephemeral and ".txt" in wrong.text
    big = await ada.slash("finetune upload", file=Upload("big.txt", b"x" * 250_000, "text/plain"))
    assert big.ephemeral and "too big (250 kB; at most 200 kB)" in big.text


async def test_limits_are_explained_and_nothing_partial_is_added(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    too_long = await ada.slash("finetune add", text="word " * 80)
    assert too_long.ephemeral and "at most 300 characters" in too_long.text
    assert "Nothing was added" in too_long.text
    empty = await ada.slash("finetune add", text="   ")
    assert empty.ephemeral and "no sentence" in empty.text
    solo = await lab.actor("Solo").slash("finetune add", text="A sentence.")
    assert solo.ephemeral and "not in a group" in solo.text


async def test_remove_and_clear_with_confirmation(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    await ada.slash("finetune paste")
    await ada.submit_modal({"One sentence per line": "\n".join(SENTENCES)})
    removed = await ada.slash("finetune remove", number=2)
    assert SENTENCES[1] in removed.text.replace("\\", "")
    assert "no sentence 9" in (await ada.slash("finetune remove", number=9)).text
    await ada.slash("finetune clear")
    kept = await ada.click("Keep it")
    assert "Nothing was removed" in kept.message.content
    assert "4 sentences" in (await ada.slash("finetune pool")).text
    await ada.slash("finetune clear")
    cleared = await ada.click("Clear the pool")
    assert "4 sentences removed" in cleared.message.content
    assert "pool is empty" in (await ada.slash("finetune pool")).text
