"""Exact bytes of the Responses SSE framing, and the item <-> message translation."""

from __future__ import annotations

import pytest

from app.errors import BadRequest, UpstreamError
from app.services import responses_convert as rc
from app.services.responses_events import EventFramer

RID = "resp_0123456789abcdef0123456789abcdef"


def _framer() -> EventFramer:
    framer = EventFramer(RID, {"model": "m", "input": "hi"})
    framer.created_at = 1700000000
    return framer


def test_golden_text_stream_bytes() -> None:
    framer = _framer()
    frames = framer.start()
    frames += framer.delta({"role": "assistant", "content": ""}, None)
    frames += framer.delta({"content": "Hi"}, None)
    frames += framer.delta({}, "stop")
    framer.usage = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    frames += framer.end()
    body = b"".join(frames).decode()
    head = (
        '{"id":"resp_0123456789abcdef0123456789abcdef","object":"response",'
        '"created_at":1700000000,"status":"%s","error":null,"incomplete_details":null,'
        '"model":"m","output":%s,"instructions":null,"max_output_tokens":null,'
        '"parallel_tool_calls":true,"previous_response_id":null,"store":true,"temperature":1.0,'
        '"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","user":null,'
        '"metadata":{},"text":{"format":{"type":"text"}},'
        '"reasoning":{"effort":null,"summary":null},"usage":%s}'
    )
    item = '"item_id":"msg_0123456789abcdef0123456789abcdef00","output_index":0,"content_index":0'
    done_item = (
        '{"id":"msg_0123456789abcdef0123456789abcdef00","type":"message","status":"completed",'
        '"content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Hi"}],'
        '"role":"assistant"}'
    )
    usage = '{"input_tokens":1,"output_tokens":2,"total_tokens":3}'
    assert body == (
        "event: response.created\n"
        'data: {"type":"response.created","sequence_number":0,"response":'
        + head
        % ("in_progress", "[]", "null")
        + "}\n\n"
        "event: response.in_progress\n"
        'data: {"type":"response.in_progress","sequence_number":1,"response":'
        + head
        % ("in_progress", "[]", "null")
        + "}\n\n"
        "event: response.output_item.added\n"
        'data: {"type":"response.output_item.added","sequence_number":2,"output_index":0,'
        '"item":{"id":"msg_0123456789abcdef0123456789abcdef00","type":"message",'
        '"status":"in_progress","content":[],"role":"assistant"}}\n\n'
        "event: response.content_part.added\n"
        'data: {"type":"response.content_part.added","sequence_number":3,' + item + ","
        '"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}\n\n'
        "event: response.output_text.delta\n"
        'data: {"type":"response.output_text.delta","sequence_number":4,' + item + ","
        '"delta":"Hi","logprobs":[]}\n\n'
        "event: response.output_text.done\n"
        'data: {"type":"response.output_text.done","sequence_number":5,' + item + ","
        '"text":"Hi","logprobs":[]}\n\n'
        "event: response.content_part.done\n"
        'data: {"type":"response.content_part.done","sequence_number":6,' + item + ","
        '"part":{"type":"output_text","annotations":[],"logprobs":[],"text":"Hi"}}\n\n'
        "event: response.output_item.done\n"
        'data: {"type":"response.output_item.done","sequence_number":7,"output_index":0,'
        '"item":' + done_item + "}\n\n"
        "event: response.completed\n"
        'data: {"type":"response.completed","sequence_number":8,"response":'
        + head % ("completed", "[" + done_item + "]", usage)
        + "}\n\n"
    )


def test_function_call_stream_keeps_every_argument_fragment() -> None:
    framer = _framer()
    frames = framer.start()
    first = {"index": 0, "id": "call_1", "type": "function"}
    frames += framer.delta(
        {"tool_calls": [{**first, "function": {"name": "f", "arguments": ""}}]}, None
    )
    frames += framer.delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}, None)
    frames += framer.delta({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}, None)
    frames += framer.delta({}, "tool_calls")
    frames += framer.end()
    body = b"".join(frames).decode()
    assert body.count("event: response.function_call_arguments.delta\n") == 2
    assert (
        'data: {"type":"response.function_call_arguments.done","sequence_number":5,'
        '"item_id":"fc_0123456789abcdef0123456789abcdef00","output_index":0,"name":"f",'
        '"arguments":"{\\"a\\":1}"}\n\n'
    ) in body
    assert framer.output[0]["status"] == "completed" and framer.output[0]["call_id"] == "call_1"
    assert body.endswith('"usage":null}}\n\n') and "event: response.completed\n" in body


def test_length_is_incomplete_and_a_failure_is_failed() -> None:
    framer = _framer()
    framer.start()
    framer.delta({"content": "cut"}, "length")
    last = framer.end()[-1].decode()
    assert last.startswith("event: response.incomplete\n")
    assert '"incomplete_details":{"reason":"max_output_tokens"}' in last
    framer = _framer()
    framer.start()
    framer.delta({"content": "half"}, None)
    last = framer.fail(UpstreamError("gone", code="upstream_incomplete"))[-1].decode()
    assert last.startswith("event: response.failed\n")
    assert '"error":{"code":"upstream_incomplete","message":"gone"}' in last


def test_items_become_chat_messages() -> None:
    items = rc.input_items(
        [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "x"}],
            },
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call_output", "call_id": "c1", "output": "1"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "2"}],
            },
        ]
    )
    assert rc.to_messages(items, "sys") == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {
            "role": "assistant",
            "content": "x",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
        {"role": "tool", "tool_call_id": "c2", "content": "2"},
    ]


def test_request_fields_become_chat_fields() -> None:
    body = {
        "model": "m",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_schema", "name": "A", "schema": {}, "strict": True}},
        "max_output_tokens": 9,
        "temperature": 0.5,
    }
    assert rc.chat_body(body, []) == {
        "model": "m",
        "messages": [],
        "temperature": 0.5,
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "A", "schema": {}, "strict": True},
        },
        "max_completion_tokens": 9,
    }
    with pytest.raises(BadRequest):
        rc.chat_body({**body, "tool_choice": "sometimes"}, [])
