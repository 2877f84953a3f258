import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from conversations.models import Conversation, Customer, Identity, Message
from memory.models import Observation
from memory.selectors import profile_for, recall

pytestmark = pytest.mark.django_db

LINES = [
    {
        "customer": {"external_id": "crm-17", "name": "Ola Berg", "email": "ola@example.com"},
        "channel": "email",
        "started_at": "2026-03-01T10:00:00Z",
        "messages": [
            {
                "role": "customer",
                "text": "Hi, my order #W5550001 arrived with a dented lid.",
                "external_id": "e1",
            },
            {
                "role": "agent",
                "text": "Sorry! We will send a replacement lid within 3 days.",
                "external_id": "e2",
            },
            {"role": "customer", "text": "Thanks. I prefer deliveries before noon.", "external_id": "e3"},
        ],
    },
    {
        "customer": {"external_id": "crm-17", "phone": "+1 212 555 0177"},
        "channel": "sms",
        "messages": [
            {"role": "customer", "text": "I moved to 40 Park Avenue, New York 10016.", "speaker": "Ola"}
        ],
    },
]


def write(tmp_path, lines) -> str:
    path = tmp_path / "transcripts.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return str(path)


def run(path: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_transcripts", path, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_stores_conversations_and_extracts_observations_with_a_progress_bar(tmp_path):
    out, err = run(write(tmp_path, LINES))
    assert "2 conversation(s) imported, 4 message(s) added" in out
    assert "importing: 100%" in err and "2/2" in err
    ola = Customer.objects.get(external_id="crm-17")
    assert set(Identity.objects.filter(customer=ola).values_list("channel", "address")) == {
        ("email", "ola@example.com"),
        ("phone", "+12125550177"),
    }
    email = Conversation.objects.get(customer=ola, channel="email")
    assert email.status == "closed" and email.created_at.isoformat().startswith("2026-03-01T10:00")
    assert list(Message.objects.filter(conversation=email).values_list("external_id", flat=True)) == [
        "e1",
        "e2",
        "e3",
    ]
    traits = profile_for(customer_id=ola.id)["traits"]
    assert traits["address"] == "40 Park Avenue, New York 10016" and traits["last_order"] == "#W5550001"
    assert Observation.objects.filter(kind="commitment", text__contains="replacement lid").exists()
    moved = recall(customer_id=ola.id, query="where does Ola live now", k=3)
    assert any(r.text.startswith("Ola: I moved to 40 Park Avenue") for r in moved)


def test_reimporting_the_same_file_adds_nothing(tmp_path):
    path = write(tmp_path, LINES)
    run(path)
    counts = (
        Customer.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        Observation.objects.count(),
    )
    out, _ = run(path)
    assert "0 conversation(s) imported, 0 message(s) added, 2 already imported" in out
    assert (
        Customer.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        Observation.objects.count(),
    ) == counts


def test_bad_lines_are_reported_and_the_good_ones_still_imported(tmp_path):
    path = write(
        tmp_path,
        [
            "{broken json",
            {"customer": {}, "messages": [{"role": "customer", "text": "x"}]},
            {"customer": {"external_id": "c1"}, "messages": [{"role": "robot", "text": "x"}]},
            {
                "customer": {"external_id": "c1"},
                "channel": "fax",
                "messages": [{"role": "customer", "text": "x"}],
            },
            LINES[0],
        ],
    )
    with pytest.raises(CommandError, match="4 line"):
        call_command("import_transcripts", path, stdout=StringIO(), stderr=(err := StringIO()))
    assert (
        "line 1:" in err.getvalue()
        and "role must be one of" in err.getvalue()
        and "channel must be" in err.getvalue()
    )
    assert Conversation.objects.count() == 1


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="is not a file"):
        call_command("import_transcripts", str(tmp_path / "nope.jsonl"))
