import random

from training.oracles import asked_names, chat_score, get_oracle, markdown_score

ASK = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What does `glob.escape` do?"},
]
GOOD = (
    "`glob.escape`: escape all special characters in a pathname, so it matches literally.\n\n"
    "- Module: `glob`\n- Arguments: `pathname`"
)


def test_asked_names_from_the_last_user_turn():
    assert asked_names(ASK) == ["glob.escape"]
    assert asked_names("Tell me about the glob module.") == ["glob"]
    assert asked_names([*ASK, {"role": "assistant", "content": "x"}, {"role": "user", "content": "And `iglob`?"}]) == ["iglob"]


def test_markdown_score_rewards_structure_and_punishes_open_fences():
    assert markdown_score(GOOD) == 2.0
    assert markdown_score("plain words only") == 0.0
    assert markdown_score("Use it:\n\n```python\nglob.escape(p)\n```") == 1.0
    assert markdown_score("Use it:\n\n```python\nglob.escape(p)") == -2.0
    assert markdown_score("an `unclosed tick") == -2.0


def test_chat_score_is_a_compound_preference():
    # Markdown (2) + names the function (1.5) + 15-60 words (1).
    assert chat_score(ASK, GOOD) == 4.5
    off_topic = (
        "`os.path`: common pathname manipulations, such as joining and splitting paths.\n\n"
        "- Module: `os`\n- Arguments: `path`"
    )
    assert chat_score(ASK, off_topic) == 3.0
    assert chat_score(ASK, "glob.escape escapes.") < chat_score(ASK, GOOD) - 2
    rambling = GOOD + " more" * 120
    assert chat_score(ASK, rambling) < chat_score(ASK, GOOD)


def test_chat_oracle_prefers_the_good_answer_most_of_the_time():
    oracle, rng = get_oracle("chat"), random.Random(0)
    answers = ["It escapes.", GOOD, "```\nunclosed", "Something about os."]
    picks = [oracle.choose(ASK, answers, rng) for _ in range(400)]
    assert picks.count(1) / 400 > 0.8
    # Without a prompt the name part is left out; the rest still applies.
    assert oracle.score(GOOD) == 3.0 and oracle.score(GOOD, ASK) == 4.5
