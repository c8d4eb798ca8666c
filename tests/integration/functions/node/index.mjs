// index.mjs - a Node.js Lambda handler run by AWS's own runtime interface
// client (aws-lambda-ric) against sluice's Runtime API, for the process
// invoker's tests. The event's "action" picks what it does:
//   echo (default)  return the event with what the context says
//   throw           throw a TypeError (a function error with a "trace")
//   partial         return a partial batch response
export const handler = async (event, context) => {
    if (event.action === 'throw') {
        throw new TypeError('boom from handler');
    }
    if (event.action === 'partial') {
        return { batchItemFailures: [{ itemIdentifier: 'm-bad' }] };
    }
    console.log('node handler got an event');
    return {
        ok: true,
        echo: event,
        requestId: context.awsRequestId,
        functionName: context.functionName,
        arn: context.invokedFunctionArn,
        memory: context.memoryLimitInMB,
        remainingPositive: context.getRemainingTimeInMillis() > 0,
    };
};
