"""Shaped like an Agent Builder export (served as model "refund_desk"), left as exported.

Its hard-coded gpt-5 settings (store, reasoning) are stripped by the gateway for non-OpenAI
upstreams, and its inner Runner.run calls go through the gateway's upstream, policy and log.
"""

from agents import Agent, ModelSettings, RunConfig, Runner, TResponseInputItem, function_tool, trace
from openai.types.shared.reasoning import Reasoning
from pydantic import BaseModel


@function_tool
def refund_policy(product: str) -> str:
    """The refund policy for a product.

    Args:
        product: The product name.
    """
    return f"{product}: full refund within 30 days with a receipt."


class IntentSchema(BaseModel):
    intent: str


intent_classifier = Agent(
    name="Intent classifier",
    instructions="Classify the customer's intent as refund, shipping or other.",
    model="gpt-5",
    output_type=IntentSchema,
    model_settings=ModelSettings(store=True, reasoning=Reasoning(effort="low", summary="auto")),
)

refund_agent = Agent(
    name="Refund agent",
    instructions="Answer refund questions with the refund_policy tool. Be brief.",
    model="gpt-5",
    tools=[refund_policy],
    model_settings=ModelSettings(store=True, reasoning=Reasoning(effort="low", summary="auto")),
)


class WorkflowInput(BaseModel):
    input_as_text: str


async def run_workflow(workflow_input: WorkflowInput):
    with trace("Refund desk"):
        workflow = workflow_input.model_dump()
        conversation_history: list[TResponseInputItem] = [
            {"role": "user", "content": [{"type": "input_text", "text": workflow["input_as_text"]}]}
        ]
        intent = await Runner.run(
            intent_classifier,
            input=[*conversation_history],
            run_config=RunConfig(trace_metadata={"__trace_source__": "agent-builder"}),
        )
        conversation_history.extend([item.to_input_item() for item in intent.new_items])
        answer = await Runner.run(
            refund_agent,
            input=[*conversation_history],
            run_config=RunConfig(trace_metadata={"__trace_source__": "agent-builder"}),
        )
        return {"output_text": answer.final_output_as(str)}
