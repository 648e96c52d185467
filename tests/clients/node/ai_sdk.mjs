// The Vercel AI SDK (`ai` + `@ai-sdk/openai`'s Chat Completions provider) against a live
// Ledgergate: generateText and streamText agree, with and without the client's own tool.
import { createOpenAI } from "@ai-sdk/openai";
import { GATEWAY, clientTool, plainAnswers } from "./shared.mjs";

const provider = createOpenAI(GATEWAY);

await plainAnswers("ai-sdk", (model) => provider.chat(model));
await clientTool("ai-sdk", (model) => provider.chat(model));
