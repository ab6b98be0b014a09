"""The lab guide's content: the lab's five tasks in order, what a group does in each, with
which commands, and where its discussion questions come from.

Commands are written `/name sub option:value` in backticks, so a test can check every one
against the bot's command tree (a renamed command or option breaks the test, not the guide).
`{model}` is the name of the model the class runs, filled in when a page is shown. The
questions themselves are not here: they are the lab tasks' cases (`cases/content/`), or the
ethics cases' shared questions, so the guide shows what `/case show` and the posted cases
show, an instructor's own version included.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskPage:
    """One task of the lab, as the guide shows it."""

    number: int
    title: str
    goal: str  # what the task is for, one or two sentences
    steps: tuple[str, ...]  # what a group does, in order
    discussion: str  # the lab-task case whose questions close the task; "" for the ethics cases
    instructor: str  # what the instructor does meanwhile


TASKS: tuple[TaskPage, ...] = (
    TaskPage(
        number=1,
        title="Pre-training, step by step",
        goal="Follow one sentence of your own through the steps a model learns from, on "
        "{model}: tokens, embeddings, attention, next-token probabilities, the loss, and "
        "one training step.",
        steps=(
            "`/tokens text:…` splits your sentence into the pieces the model reads, each with "
            "its id.",
            "`/embedding words:…` finds the tokens whose vectors lie closest to a few words, "
            "with a 2-D map of them.",
            "`/attention text:…` shows which earlier tokens each token looks at in one layer.",
            "`/nexttoken prompt:…` lists the likeliest next tokens and their probabilities.",
            "`/loss text:…` scores a sentence token by token: an unlikely next token costs a "
            "high loss.",
            "`/trainstep text:…` runs a few backpropagation steps on a throwaway copy and shows "
            "the loss falling; the class's model never changes.",
        ),
        discussion="lab-task-1-pretraining",
        instructor="Post the questions with `/case post case:lab-task-1-pretraining`; "
        "`/case export case:lab-task-1-pretraining` collects the answers.",
    ),
    TaskPage(
        number=2,
        title="A real model, already running",
        goal="In the notebook this task loads GPT-2. Here {model} is already loaded on the "
        "bot's runner, shared by the whole class, so nothing needs to be installed.",
        steps=(
            "`/about` names the model, its size in parameters and the device it runs on.",
            "`/generate prompt:…` asks it to continue a sentence once. That is inference: the "
            "model predicts token after token and its weights stay as they are.",
            "Move on to Task 3 straight away: its discussion questions cover Task 2 too.",
        ),
        discussion="",
        instructor="Nothing to start: the runner loaded the model with the bot. "
        "`/lab limits max_tokens:…` keeps requests short if the class is large.",
    ),
    TaskPage(
        number=3,
        title="Picking the next token",
        goal="Four decoding methods turn the same next-token probabilities into four different "
        "texts. Watch them first, guess what each one does, and only then read how they work.",
        steps=(
            "`/compare prompt:…` runs one prompt through Greedy, 5-Beam, Contrastive Search and "
            "Random Sampling and adds a row to your group's table. Try at least five prompts: "
            "a story opening, a fact, a question, a list.",
            "`/table show` shows your group's table; `/table export` downloads it.",
            "`/generate prompt:… method:…` runs one method, so you can change its settings "
            "(max_tokens, seed, temperature) and see what moves.",
            "Write down your group's guesses. Once your instructor reveals a method, "
            "`/explain method:…` explains it, `/sampler prompt:…` shows Random Sampling one "
            "stage at a time, and `/beamtree prompt:…` draws 5-Beam's search as a tree.",
            "When your instructor opens a class vote, vote with its buttons for the most "
            "coherent of four continuations, shown shuffled and without their methods' names; "
            "`/vote results` gives the whole class's answer over every prompt voted on.",
        ),
        discussion="lab-task-2-3-generation",
        instructor="Let groups guess first, then `/lab reveal method:…` (one method, or all "
        "four) opens /explain, /sampler and /beamtree; `/lab hide` closes them for the next "
        "class. `/vote open prompt:…` puts a prompt to a blind class vote and `/vote close` "
        "reveals which method wrote what. Post the questions with "
        "`/case post case:lab-task-2-3-generation`.",
    ),
    TaskPage(
        number=4,
        title="Fine-tuning on a small dataset",
        goal="Train {model} a little further on a few dozen sentences, first a built-in "
        "example and then your group's own, and compare it with the original.",
        steps=(
            "`/finetune example name:…` trains on a built-in dataset (recipes, full stops "
            "replaced by a word, or counting names) and says what to look for.",
            "`/compare prompt:… models:Pre-trained, in-context and fine-tuned` puts the "
            "pre-trained model, the same model given a few examples in the prompt, and your "
            "fine-tuned one side by side (five prompts or more).",
            "Agree on a topic, style or pattern, then add 20 to 30 sentences: `/finetune add "
            "text:…` one at a time, `/finetune paste` or `/finetune upload file:…` many at once; "
            "`/finetune pool` lists them.",
            "`/finetune start` trains on your pool; `/finetune models` lists your versions and "
            "`/finetune download` gives you the adapter to load in a notebook.",
            "`/table show kind:…` shows the fine-tune tables your comparisons filled.",
            "The lecture's last stage is alignment: people's preferences shape the model. "
            "Your instructor aligns {model} with the class's own votes, and "
            "`/vote compare prompt:…` shows the pre-trained and the class-aligned model side "
            "by side.",
        ),
        discussion="lab-task-4-fine-tuning",
        instructor="`/lab approval required:True` makes every run wait for your Approve; "
        "`/lab blockwords add:…` keeps words out of the pools. Once votes have closed, "
        "`/vote align` trains the class-aligned model on them (DPO). Post the questions with "
        "`/case post case:lab-task-4-fine-tuning`.",
    ),
    TaskPage(
        number=5,
        title="Ethical considerations",
        goal="The lab's case studies look at the costs of building and using models like "
        "{model}: energy and water, the people who label data, copyright, and fine-tuning "
        "that undoes safety training. Each group picks one.",
        steps=(
            "`/case list` lists the case studies; `/case show case:…` reads one with its sources.",
            "`/case choose case:…` records your group's choice.",
            "Discuss in the thread under your instructor's post of the case, then answer each "
            "question with the Answer buttons under it (anyone in the group can edit).",
            "`/case answers` reads your group's answers back.",
        ),
        discussion="",
        instructor="`/case post case:…` posts a case with its Answer buttons and a thread; "
        "`/case reveal case:…` shares every group's answers; `/case export case:…` downloads "
        "them.",
    ),
)
