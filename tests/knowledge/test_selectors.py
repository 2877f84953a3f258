import json

import pytest

from knowledge import selectors
from knowledge.models import Document
from knowledge.services import import_knowledge

ARTICLES = [
    {
        "id": "gift-cards",
        "title": "Gift cards",
        "text": "Gift cards can't be refunded or exchanged for cash.",
    },
    {"id": "shipping", "title": "Shipping", "text": "Shipping is free on every order over $50."},
]
QUESTION = "My order arrived yesterday. Can I get a refund for the gift card?"


@pytest.fixture
def articles(db, tmp_path) -> dict[str, int]:
    path = tmp_path / "articles.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES))
    import_knowledge(path)
    return dict(Document.objects.values_list("external_id", "id"))


def test_passage_with_the_questions_words_answers(articles):
    scope = selectors.Scope(document_ids=None, threshold=0.0, coverage=0.5)

    found = selectors.answering_passages(QUESTION, scope=scope)

    assert [p.external_id for p in found] == ["gift-cards"]


def test_passage_without_the_questions_words_does_not_answer_even_above_the_threshold(articles):
    # "order" is in the shipping passage, but it is in the situation, not in what is asked.
    scope = selectors.Scope(document_ids=[articles["shipping"]], threshold=0.0, coverage=0.5)

    found = selectors.search(QUESTION, scope=scope)

    assert selectors.question_coverage(QUESTION, [p.id for p in found]) == {p.id: 0.0 for p in found}
    assert found and selectors.answering_passages(QUESTION, scope=scope) == []


def test_coverage_zero_answers_from_any_passage_above_the_threshold(articles):
    scope = selectors.Scope(document_ids=[articles["shipping"]], threshold=0.0, coverage=0.0)

    assert [p.external_id for p in selectors.answering_passages(QUESTION, scope=scope)] == ["shipping"]


def test_use_case_scope_carries_its_threshold_and_coverage(articles, offline_use_case):
    from knowledge.models import UseCaseKnowledge

    UseCaseKnowledge.objects.create(use_case=offline_use_case, answer_threshold=0.9, question_coverage=0.7)

    assert selectors.scope_for(offline_use_case.id) == selectors.Scope(
        document_ids=None, threshold=0.9, coverage=0.7
    )


def test_a_use_cases_scope_follows_an_edit_at_once(articles, offline_use_case):
    from knowledge.models import UseCaseKnowledge

    assert selectors.scope_for(offline_use_case.id).threshold == selectors.DEFAULT_ANSWER_THRESHOLD
    knowledge = UseCaseKnowledge.objects.create(use_case=offline_use_case, answer_threshold=0.9)
    assert selectors.scope_for(offline_use_case.id).threshold == 0.9
    UseCaseKnowledge.objects.filter(pk=knowledge.pk).update(answer_threshold=0.8)  # no signal sent
    assert selectors.scope_for(offline_use_case.id).threshold == 0.8
    knowledge.documents.add(articles["shipping"])
    assert selectors.scope_for(offline_use_case.id).document_ids == [articles["shipping"]]
    knowledge.delete()
    assert selectors.scope_for(offline_use_case.id).document_ids is None
