// The Vercel AI SDK's default provider (`openai(model)` of `@ai-sdk/openai`, which calls
// POST /v1/responses) against a live Ledgergate: generateText and streamText agree, with and
// without the client's own tool (its call is a function_call item, its result goes back as a
// function_call_output item in the next step's request).
import assert from "node:assert/strict";
import { createOpenAI } from "@ai-sdk/openai";
import { GATEWAY, clientTool, plainAnswers } from "./shared.mjs";

const openai = createOpenAI(GATEWAY);

await plainAnswers("ai-sdk responses", openai, async (model, whole, streamed) => {
  const id = whole.response.id;
  assert.match(id, /^resp_[0-9a-f]{32}$/, `${model}: ${id} is not a Responses id`);
  assert.ok((await streamed.usage).outputTokens > 0, `${model}: no usage in response.completed`);
});
await clientTool("ai-sdk responses", openai, async (model, whole) => {
  assert.equal(whole.steps.length, 2, `${model}: ${whole.steps.length} steps`);
});
