// The `openai` npm package against a live Ledgergate: streamed and whole answers agree and never
// carry a call to a tool the client did not send; runTools runs the client's own tool.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { GATEWAY, LOOKUP_QUESTION, LOOKUP_RESULT, MODELS, QUESTIONS, TAKES_CLIENT_TOOLS, lookupSchema } from "./shared.mjs";

const client = new OpenAI({ ...GATEWAY, maxRetries: 0 });

for (const model of MODELS) {
  const messages = [{ role: "user", content: QUESTIONS[model] }];
  const whole = await client.chat.completions.create({ model, messages });
  const stream = await client.chat.completions.create({ model, messages, stream: true });
  let text = "";
  const finishes = [];
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    assert.equal(choice.delta.tool_calls, undefined, `${model}: a tool call the client never sent`);
    text += choice.delta.content ?? "";
    if (choice.finish_reason) finishes.push(choice.finish_reason);
  }
  assert.ok(text.length > 0, `${model}: empty answer`);
  assert.equal(whole.choices[0].message.content, text, `${model}: streamed != whole`);
  assert.equal(whole.choices[0].message.tool_calls, undefined);
  assert.deepEqual(finishes, ["stop"]);
  // The stream helper's final message holds no foreign calls either.
  const helper = client.chat.completions.stream({ model, messages });
  const final = await helper.finalChatCompletion();
  assert.equal(final.choices[0].message.content, text);
  assert.ok(!final.choices[0].message.tool_calls?.length, `${model}: stream helper kept a call`);
  console.log(`ok openai npm create/stream ${model}`);
}

for (const model of TAKES_CLIENT_TOOLS) {
  for (const stream of [false, true]) {
    const products = [];
    const runner = client.chat.completions.runTools({
      model,
      stream,
      messages: [{ role: "user", content: LOOKUP_QUESTION }],
      tools: [
        {
          type: "function",
          function: {
            name: "lookup",
            description: "Look a product up in the stock list.",
            parameters: lookupSchema,
            parse: JSON.parse,
            function: ({ product }) => {
              products.push(product);
              return LOOKUP_RESULT;
            },
          },
        },
      ],
    });
    const content = await runner.finalContent();
    assert.deepEqual(products, ["kettle"], `${model}: runTools ran ${products}`);
    assert.ok(content.includes(LOOKUP_RESULT), `${model}: ${content}`);
    console.log(`ok openai npm runTools ${model} stream=${stream}`);
  }
}
