"""What text-to-speech receives: whole words, never half a number, no markdown marks read aloud."""

from orchestration.channels.speech import SpeakableChunker


def speak(tokens: list[str]) -> list[str]:
    chunker = SpeakableChunker()
    pieces = [chunker.feed(token) for token in tokens]
    return [p for p in pieces if p] + [chunker.flush()]


def test_an_order_id_split_across_tokens_is_spoken_whole():
    assert speak(["Your", " order", " #W26", "113", "40", " shipped."]) == [
        "Your ",
        "order ",
        "#W2611340 ",
        "shipped.",
    ]


def test_markdown_marks_are_not_spoken_and_newlines_become_spaces():
    assert "".join(speak(["**Good", " news**:\n", "it `shipped`."])) == "Good news: it shipped."


def test_a_token_holding_several_words_is_one_piece():
    assert speak(["Hello there, ", "friend"]) == ["Hello there, ", "friend"]
