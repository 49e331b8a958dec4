export const handler = async (event, context) => ({ ric: true, event, id: context.awsRequestId });
