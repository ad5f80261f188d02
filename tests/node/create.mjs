// The official TypeScript `openai` SDK creating through the gateway, for
// tests/test_gateway_node.py: `node create.mjs BODY_JSON` creates with that body (a stream is
// read to its end) and prints one JSON line: the SDK error it raised, as
// `{"error": CLASS, "status", "code", "param"}`, or `{"id", "status"}`. The gateway's URL and
// key come from GATEWAY_URL and GATEWAY_KEY.
import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: process.env.GATEWAY_URL,
  apiKey: process.env.GATEWAY_KEY,
  maxRetries: 0, // a retry would hide what the gateway answered
});

const body = JSON.parse(process.argv[2]);
try {
  const answer = await client.responses.create(body);
  let last = answer;
  if (body.stream) {
    for await (const event of answer) last = event.response ?? last;
  }
  process.stdout.write(JSON.stringify({ id: last.id, status: last.status }) + '\n');
} catch (err) {
  if (!(err instanceof OpenAI.APIError)) throw err;
  const { status, code, param } = err;
  process.stdout.write(JSON.stringify({ error: err.constructor.name, status, code, param }) + '\n');
}
