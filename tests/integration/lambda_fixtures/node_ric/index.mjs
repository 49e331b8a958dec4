// index.mjs - a Node handler served by AWS's own runtime interface client (aws-lambda-ric,
// from npm, unchanged) instead of quarry's bootstrap: checks quarry's Runtime API against
// the client AWS ships in its base images.
export const handler = async (event, context) => {
  if (event.fail) throw new Error(`ric failure: ${event.fail}`);
  console.log(`ric handler ${context.awsRequestId}`);
  return {
    ric: true, event, requestId: context.awsRequestId, arn: context.invokedFunctionArn,
    remaining: context.getRemainingTimeInMillis(), functionName: context.functionName,
  };
};
