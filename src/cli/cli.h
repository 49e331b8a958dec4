/*
 * cli.h - `quarry job ...`: a small S3 Control / S3 client for batch jobs (docs/batch.md,
 * "quarry job commands"), speaking SigV4 through libcurl to a running server whose
 * endpoint and keys come from the aws CLI's environment variables. Implemented in
 * cli/job.c; main.c only dispatches to it.
 */
#ifndef QR_CLI_H
#define QR_CLI_H

/* argv[0] is "job"; returns the process exit code (0 ok, 1 the job or request failed,
 * 2 usage). Main thread, before anything else starts. */
int cli_job(int argc, char **argv);

#endif
