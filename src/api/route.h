/* route.h - the one h2o handler: request ids, authentication, routing by service. */
#ifndef QR_API_ROUTE_H
#define QR_API_ROUTE_H

#include <h2o.h>

struct qr_server;

/* Registers quarry's request handler on pc. Main thread, before the loops start. */
void api_register(struct qr_server *s, h2o_pathconf_t *pc);

#endif
