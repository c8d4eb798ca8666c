/* cli_topic.h - `sluice topic ...`: topics and subscriptions from the command line,
 * through the native API (/v1/topics, /v1/subscriptions). Guarded by SLUICE_CLI_TOPIC_H. */
#ifndef SLUICE_CLI_TOPIC_H
#define SLUICE_CLI_TOPIC_H

/* Runs `sluice topic ARGS...` (argv[0] is the subcommand) against endpoint, with the
 * global options already applied. Returns the process exit status: 0 ok, 1 the broker
 * refused, 2 usage error, 3 broker unreachable. */
int sl__cli_topic_main(const char *endpoint, int timeout_s, const char *region,
                       const char *account, int argc, char **argv);

#endif
