// What the node client scripts share: the gateway they talk to, the Python suite's questions
// (tests/clients/conftest.py) and the checks both Vercel AI SDK scripts run.
import assert from "node:assert/strict";
import { generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";

// One stable question per model.

export const PASSTHROUGH = "gpt-4o-mini";
export const QUESTIONS = {
  assistant: 'Use word_count: how many words in "to be or not to be"?',
  concierge: 'What are the office_hours in "Paris"?',
  refund_desk: 'Can I return my "kettle"?',
  [PASSTHROUGH]: "Say hello to Ada.",
};
export const MODELS = Object.keys(QUESTIONS);
export const TAKES_CLIENT_TOOLS = ["assistant", "concierge", PASSTHROUGH];
export const LOOKUP_QUESTION = 'Please lookup "kettle" with the lookup tool.';
export const LOOKUP_RESULT = "kettle: in stock";
export const lookupSchema = {
  type: "object",
  properties: { product: { type: "string" } },
  required: ["product"],
  additionalProperties: false,
};
// The live gateway tests/clients/test_node.py started for this script.
export const GATEWAY = { baseURL: process.env.LG_BASE_URL, apiKey: process.env.LG_API_KEY };

// The Vercel AI SDK scripts, one per provider (`languageModel` turns a model name into the
// provider's model): generateText and streamText give the same plain answer for every model,
// then run the client's own `lookup` tool. `more` adds a script's own checks on a model's answers.
export async function plainAnswers(label, languageModel, more = async () => {}) {
  for (const model of MODELS) {
    const request = { model: languageModel(model), prompt: QUESTIONS[model], maxRetries: 0 };
    const whole = await generateText(request);
    const streamed = streamText(request);
    const text = await streamed.text;
    const steps = await streamed.steps;
    assert.ok(text.length > 0, `${model}: empty answer`);
    assert.equal(whole.text, text, `${model}: streamed != whole`);
    assert.equal(whole.toolCalls.length, 0);
    assert.equal((await streamed.toolCalls).length, 0, `${model}: a tool call the client never sent`);
    assert.equal(whole.finishReason, "stop");
    assert.equal(await streamed.finishReason, "stop");
    await more(model, whole, streamed);
    noToolTrouble(model, [...whole.steps, ...steps]);
    console.log(`ok ${label} generateText/streamText ${model}`);
  }
}

export async function clientTool(label, languageModel, more = async () => {}) {
  for (const model of TAKES_CLIENT_TOOLS) {
    const products = [];
    const tools = {
      lookup: tool({
        description: "Look a product up in the stock list.",
        inputSchema: jsonSchema(lookupSchema),
        execute: async ({ product }) => {
          products.push(product);
          return LOOKUP_RESULT;
        },
      }),
    };
    const options = { prompt: LOOKUP_QUESTION, tools, stopWhen: stepCountIs(4), maxRetries: 0 };
    const whole = await generateText({ model: languageModel(model), ...options });
    const streamed = streamText({ model: languageModel(model), ...options });
    const text = await streamed.text;
    noToolTrouble(model, [...whole.steps, ...(await streamed.steps)]);
    assert.deepEqual(products, ["kettle", "kettle"], `${model}: lookup ran for ${products}`);
    assert.ok(whole.text.includes(LOOKUP_RESULT), `${model}: ${whole.text}`);
    assert.equal(text, whole.text, `${model}: streamed != whole with tools`);
    const called = whole.steps.flatMap((s) => s.toolCalls.map((c) => c.toolName));
    assert.deepEqual(called, ["lookup"]);
    await more(model, whole);
    console.log(`ok ${label} tools ${model}`);
  }
}

function noToolTrouble(model, steps) {
  for (const step of steps) {
    for (const part of step.content) {
      assert.notEqual(part.type, "tool-error", `${model}: ${JSON.stringify(part)}`);
    }
  }
}
