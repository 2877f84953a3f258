"""The verified customer's account in the LLM's system prompt: through the real websocket, the loopback
OpenAI fake and the demo store served over HTTP."""

import re

import pytest
from channels.db import database_sync_to_async

from conversations.actions import account
from conversations.actions.models import Action
from conversations.llm.offline import OfflineEngine
from demostore.models import StoreOrder, StoreUser
from tests.conversations.store_chat import EMAIL, Chat, order_data
from tests.fakes.openai_server import Reply

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async

EMMA = "emma_santos_9753"  # a mastercard ending 6380 and a gift card; seven orders
EMMA_EMAIL = "emma.santos7683@example.com"
CHEN = "chen_silva_7485"  # a gift card and a credit card; one tea kettle, in a delivered order
CHEN_EMAIL = "chen.silva2698@example.com"


@pytest.fixture
def reads(monkeypatch):
    """Every action the account section runs, by name."""
    made: list[str] = []
    original = account.execute

    async def counted(action, arguments):
        made.append(action.name)
        return await original(action, arguments)

    monkeypatch.setattr(account, "execute", counted)
    return made


def system(request: dict) -> str:
    return request["messages"][0]["content"]


def call(name: str, **arguments) -> Reply:
    return Reply(tool_calls=[{"name": name, "arguments": arguments}])


def orders_of(user_id: str) -> list[dict]:
    return [order_data(o) for o in StoreUser.objects.get(user_id=user_id).data["orders"]]


def other_order_ids(user_id: str) -> list[str]:
    return list(StoreOrder.objects.exclude(user_id=user_id).values_list("order_id", flat=True))


async def test_before_verification_the_request_carries_no_account(llm_store, reads):
    llm_store.script(Reply(text="Hello! What's the email on your account?"))
    chat = await Chat.open("return-items")
    await chat.say("hi, I'd like to return something")
    prompt = system(llm_store.requests[0])
    assert "# Verified customer\nNobody yet" in prompt
    assert account.HEADING not in prompt and "#W" not in prompt
    assert reads == []
    await chat.close()


async def test_after_verification_the_system_message_holds_the_customers_account_and_nobody_elses(
    llm_store, reads
):
    llm_store.script(Reply(text="Hi Emma!"), Reply(text="Sure."))
    chat = await Chat.open("return-items", email=EMMA_EMAIL)
    await chat.say("hi")
    prompt = system(llm_store.requests[0])
    section = prompt[prompt.index(account.HEADING) :]
    assert prompt.index("# Verified customer") < prompt.index(account.HEADING), "after the offline split"
    # Fields come in the store's order (PostgreSQL's jsonb order, here), so each is looked for on its own.
    card = re.search(r"credit_card_5869505 \{([^}]*)\}", section).group(1)
    assert {"source: credit_card", "brand: mastercard", "last_four: 6380"} == set(card.split(", "))
    gift = re.search(r"gift_card_6023546 \{([^}]*)\}", section).group(1)
    assert {"source: gift_card", "balance: 36"} == set(gift.split(", "))
    lines = section.splitlines()
    for order in await db(orders_of)(EMMA):
        [line] = [line for line in lines if line.startswith(f"- {order['order_id']}: ")]
        assert f"status: {order['status']}" in line
        for item in order["items"]:
            assert f"name: {item['name']}" in line and f"item_id: {item['item_id']}" in line
            assert all(f"{k}: {v}" in line for k, v in item["options"].items())
        assert "tracking" not in line and "address1" not in line, "only the fields the action shows"
    others = await db(other_order_ids)(EMMA)
    assert not [o for o in others if o in prompt]
    assert "aarav" not in prompt.lower() and EMAIL not in prompt
    assert len(section) < account.MAX_SECTION_CHARS
    assert reads == ["get_user_details"] + ["get_order_details"] * 7
    await chat.say("thanks, and which of my orders are pending?")
    assert account.HEADING in system(llm_store.requests[1])
    assert len(reads) == 8, "read once per conversation, not every turn"
    await chat.close()


async def test_the_model_resolves_the_tea_kettle_i_got_from_the_account_and_the_return_runs(llm_store, reads):
    llm_store.script(
        call("find_user_id_by_email", email=CHEN_EMAIL),
        Reply(text="Thanks, I found your account. What can I do for you?"),
    )
    chat = await Chat.open("return-items")
    await chat.say(f"hi, my email is {CHEN_EMAIL}")
    # Verified by the look-up in the first round: the second round of the same turn has the account.
    assert account.HEADING not in system(llm_store.requests[0])
    prompt = system(llm_store.requests[1])
    assert account.HEADING in prompt

    # The model's part: find the one order line naming a tea kettle, and the credit card, in the summary.
    [line] = [line for line in prompt.splitlines() if line.startswith("- #W") and "Tea Kettle" in line]
    order_id = line[2:].split(":")[0]
    kettle = next(i for i in re.findall(r"\{[^{}]*\{[^}]*\}[^}]*\}", line) if "Tea Kettle" in i)
    item_id = re.search(r"item_id: (\d+)", kettle).group(1)
    card = re.search(r"(\S+) \{[^}]*source: credit_card", prompt).group(1)
    assert (order_id, item_id, card) == ("#W8171054", "9747045638", "credit_card_1565124")
    assert "status: delivered" in line

    ask = call("return_delivered_order_items", order_id=order_id, item_ids=[item_id], payment_method_id=card)
    llm_store.script(
        ask,
        Reply(text="I can return the tea kettle for you."),
        ask,
        Reply(text="Done: the return is requested."),
        Reply(text="It shows as return requested."),
    )
    asked = await chat.say("I want to return the tea kettle I got, refund it to my credit card")
    # Said in the customer's terms from the records the section was read from: the model never looked up.
    assert "To confirm: return Tea Kettle (" in asked and "of order #W8171054" in asked, asked
    assert "refunded to your Mastercard ending 2732" in asked, asked
    assert await chat.say("yes") == "Done: the return is requested."
    order = await db(order_data)(order_id)
    assert order["status"] == "return requested" and order["return_items"] == [item_id]
    assert order["return_payment_method_id"] == card
    read_once = ["get_user_details"] + ["get_order_details"] * 4
    assert reads == read_once
    # A change succeeded: the next turn re-reads, and sees it.
    await chat.say("what's the status now?")
    assert reads == read_once * 2
    [line] = [
        line for line in system(llm_store.requests[-1]).splitlines() if line.startswith(f"- {order_id}")
    ]
    assert "status: return requested" in line
    await chat.close()


@pytest.mark.parametrize("broken", ["get_user_details", "get_order_details"])
async def test_a_failing_account_read_leaves_the_section_out_and_the_turn_goes_on(llm_store, reads, broken):
    working = "/users/{user_id}" if broken == "get_user_details" else "/orders/{order_id}"
    await db(Action.objects.filter(name=broken).update)(url_template="/nowhere" + working)  # a 404
    llm_store.script(Reply(text="Hi Emma, how can I help?"), Reply(text="Sure."))
    chat = await Chat.open("return-items", email=EMMA_EMAIL)
    assert await chat.say("hi") == "Hi Emma, how can I help?"
    prompt = system(llm_store.requests[0])
    assert "verified as store user_id `emma_santos_9753`" in prompt
    assert account.HEADING not in prompt
    # A failure is not remembered: once the store answers again, the next turn has the account.
    await db(Action.objects.filter(name=broken).update)(url_template=working)
    await chat.say("what did I order?")
    assert account.HEADING in system(llm_store.requests[1])
    await chat.close()


async def test_the_offline_engine_reads_the_account_but_never_shows_it(demo_store, reads, monkeypatch):
    seen: list[str] = []
    respond = OfflineEngine.respond

    def recording(self, messages, tools):
        seen.append(messages[0]["content"])
        return respond(self, messages, tools)

    monkeypatch.setattr(OfflineEngine, "respond", recording)
    chat = await Chat.open("general", email=CHEN_EMAIL)
    replies = [
        await chat.say(text)
        for text in (
            "what do you know about tea kettle product_id item_id price options material glass?",
            "tell me about the credit card source brand last_four balance",
        )
    ]
    assert account.HEADING in seen[0]
    for reply in replies:
        assert "9747045638" not in reply and "credit_card_1565124" not in reply, reply
        assert "{" not in reply and "Read through the actions" not in reply, reply
    await chat.close()
