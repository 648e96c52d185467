// The Vercel AI SDK's default provider (`openai(model)` of `@ai-sdk/openai`, which calls
// POST /v1/responses) against a live Ledgergate: generateText and streamText agree, with and
// without the client's own tool (its call is a function_call item, its result goes back as a
// function_call_output item in the next step's request).
import assert from "node:assert/strict";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";
import { LOOKUP_QUESTION, LOOKUP_RESULT, MODELS, QUESTIONS, TAKES_CLIENT_TOOLS, lookupSchema } from "./shared.mjs";

const openai = createOpenAI({ baseURL: process.env.LG_BASE_URL, apiKey: process.env.LG_API_KEY });

function noToolTrouble(model, steps) {
  for (const step of steps) {
    for (const part of step.content) {
      assert.notEqual(part.type, "tool-error", `${model}: ${JSON.stringify(part)}`);
    }
  }
}

for (const model of MODELS) {
  const whole = await generateText({ model: openai(model), prompt: QUESTIONS[model], maxRetries: 0 });
  const id = whole.response.id;
  assert.match(id, /^resp_[0-9a-f]{32}$/, `${model}: ${id} is not a Responses id`);
  const streamed = streamText({ model: openai(model), prompt: QUESTIONS[model], maxRetries: 0 });
  const text = await streamed.text;
  const steps = await streamed.steps;
  assert.ok(text.length > 0, `${model}: empty answer`);
  assert.equal(whole.text, text, `${model}: streamed != whole`);
  assert.equal(whole.toolCalls.length, 0);
  assert.equal((await streamed.toolCalls).length, 0, `${model}: a tool call the client never sent`);
  assert.equal(whole.finishReason, "stop");
  assert.equal(await streamed.finishReason, "stop");
  assert.ok((await streamed.usage).outputTokens > 0, `${model}: no usage in response.completed`);
  noToolTrouble(model, [...whole.steps, ...steps]);
  console.log(`ok ai-sdk responses generateText/streamText ${model}`);
}

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
  const whole = await generateText({ model: openai(model), ...options });
  const streamed = streamText({ model: openai(model), ...options });
  const text = await streamed.text;
  noToolTrouble(model, [...whole.steps, ...(await streamed.steps)]);
  assert.deepEqual(products, ["kettle", "kettle"], `${model}: lookup ran for ${products}`);
  assert.ok(whole.text.includes(LOOKUP_RESULT), `${model}: ${whole.text}`);
  assert.equal(text, whole.text, `${model}: streamed != whole with tools`);
  const called = whole.steps.flatMap((s) => s.toolCalls.map((c) => c.toolName));
  assert.deepEqual(called, ["lookup"]);
  assert.equal(whole.steps.length, 2, `${model}: ${whole.steps.length} steps`);
  console.log(`ok ai-sdk responses tools ${model}`);
}
