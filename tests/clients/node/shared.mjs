// What the Python suite asks too (tests/clients/conftest.py): one stable question per model.
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
