// sqs.mjs - an SQS-event handler written for AWS Lambda (the partial batch response
// pattern from AWS's documentation), run unchanged by AWS's runtime interface client
// (aws-lambda-ric) as a sluice process function behind a queue trigger, for
// tests/integration/test_triggers.py. It appends one JSON line per record it sees to
// $SLUICE_TEST_OUT; a record whose body contains "fail" is reported in
// batchItemFailures, and a body containing "throw" fails the whole batch.
import { appendFileSync } from 'node:fs';

const out = process.env.SLUICE_TEST_OUT;

export const handler = async (event, context) => {
    const batchItemFailures = [];
    for (const record of event.Records) {
        if (out) {
            appendFileSync(out, JSON.stringify({
                messageId: record.messageId,
                body: record.body,
                eventSource: record.eventSource,
                receiveCount: record.attributes.ApproximateReceiveCount,
                requestId: context.awsRequestId,
            }) + '\n');
        }
        if (record.body.includes('throw')) {
            throw new Error('thrown for ' + record.messageId);
        }
        if (record.body.includes('fail')) {
            batchItemFailures.push({ itemIdentifier: record.messageId });
        }
    }
    console.log(`processed ${event.Records.length} records, ${batchItemFailures.length} failed`);
    return { batchItemFailures };
};
