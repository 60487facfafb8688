/* mida_prov.h - the mapper: task record -> PROV-O quads (ARCHITECTURE 3.3).
 *
 * The single place that turns a task record into triples; adapters in any
 * language call it through libmida.  The mapping uses no blank nodes and
 * mints every IRI from the record (mida_iri), so mapping the same record
 * twice gives the same quads.  Each quad's graph is the record's workflow
 * run, B/graph/{workflow} (campaign facts: B/graph/campaign/{id}).
 *
 * | record part           | triples (subject: T task, W workflow run, C campaign)              |
 * |-----------------------|--------------------------------------------------------------------|
 * | campaign_id           | C a mida:Campaign, prov:Activity, provone:Execution; mida:campaignId|
 * | workflow_id, _name    | W a mida:WorkflowRun, prov:Activity, provone:Execution;            |
 * |                       | mida:workflowId; mida:workflowName; provone:wasPartOf C            |
 * | task_id               | T a mida:Task, prov:Activity, provone:Execution;                   |
 * |                       | provone:wasPartOf W; mida:taskId                                   |
 * | activity_id           | mida:activityId; prov:qualifiedAssociation T/association           |
 * |                       | [a prov:Association; prov:agent E|U; prov:hadPlan B/program/{A}];  |
 * |                       | B/program/{A} a provone:Program, prov:Plan, prov:Entity            |
 * | engine (or adapter_id)| prov:wasAssociatedWith E = B/agent/software/{engine},              |
 * |   engine_version      | E a prov:SoftwareAgent, prov:Agent; rdfs:label; mida:version       |
 * | user                  | prov:wasAssociatedWith U = B/agent/person/{user},                  |
 * |                       | U a prov:Person, prov:Agent, provone:User; rdfs:label               |
 * | status, native_status | mida:status mida:Submitted..mida:Error; mida:nativeStatus          |
 * | submitted/started/    | mida:submittedAtTime, prov:startedAtTime, prov:endedAtTime         |
 * |   ended_at            | (xsd:dateTime, UTC)                                                |
 * | dependencies          | prov:wasInformedBy B/task/{W}/{dep}                                |
 * | parent_task_id        | mida:parentTask B/task/{W}/{parent}                                |
 * | hostname, adapter_id, | mida:hostname, mida:adapterId, mida:environmentId,                 |
 * |   environment_id,     | mida:exitCode, mida:stdout, mida:stderr (last max_excerpt bytes),  |
 * |   exit_code, stdout,  | mida:tag, mida:customMetadata (rdf:JSON)                           |
 * |   stderr, tags, ...   |                                                                    |
 * | used.N = value        | V = B/value/{W}/{T}/used/{N} a prov:Entity, mida:Value; mida:name; |
 * |                       | prov:value (typed); T prov:used V; T prov:qualifiedUsage           |
 * |                       | T/usage/{N} [a prov:Usage; prov:entity V; mida:name; prov:hadRole  |
 * |                       | and provone:hadInPort P; prov:atTime started_at]                   |
 * | generated.N = value   | V = B/value/{W}/{T}/generated/{N} ...; prov:wasGeneratedBy T;      |
 * |                       | prov:generatedAtTime; V prov:qualifiedGeneration T/generation/{N}  |
 * |                       | [a prov:Generation; prov:activity T; mida:name; prov:hadRole,      |
 * |                       | provone:hadOutPort P; prov:atTime ended_at]                        |
 * | used/generated.N =    | D = B/data/{key} a prov:Entity, provone:Data; prov:atLocation;     |
 * |   data reference      | mida:contentDigest; dcterms:identifier (tool ids); mida:dataType;  |
 * |                       | mida:sizeBytes; used/generated as above with D in place of V; a    |
 * |                       | list gives one usage per item, T/usage/{N}/{i}                     |
 * | ports                 | P = B/program/{A}/in|out/{N} a provone:Port, prov:Role; mida:name; |
 * |                       | B/program/{A} provone:hasInPort|hasOutPort P                       |
 * | telemetry_at_start    | T mida:telemetryAtStart T/telemetry/start a mida:Telemetry;        |
 * |   / _at_end           | mida:cpuPercent ... (see docs/mapping.md); other keys in           |
 * |                       | mida:telemetryExtra (rdf:JSON)                                      |
 * | (every graph G)       | G a prov:Bundle, prov:Entity                                       |
 *
 * JSON value types: integer -> xsd:integer, number -> xsd:double (shortest
 * round-trip form), boolean -> xsd:boolean, string -> xsd:string, object or
 * array -> rdf:JSON (compact, keys sorted), null -> no prov:value.
 */
#ifndef MIDA_PROV_H
#define MIDA_PROV_H

#define MIDA_DEFAULT_BASE "http://127.0.0.1:7878"

typedef struct mida_map_opts {
    const char *base;              /* IRI base B; NULL = MIDA_DEFAULT_BASE */
    const mida_alias_t *aliases;   /* location aliases (ARCHITECTURE 3.4) */
    size_t n_aliases;
    bool no_promote;               /* plain path/URI strings stay values */
    size_t max_excerpt;            /* bytes of stdout/stderr kept; 0 = 4096 */
} mida_map_opts_t;

/* Appends the quads of `task` to `out`.  `opts` may be NULL.  Returns
 * MIDA_ERECORD with "field 'X': reason" in err when a part of the record
 * cannot be mapped (a malformed digest, say); quads appended before the
 * failure are removed again. */
MIDA_EXPORT int mida_prov_map(const mida_task_t *task, const mida_map_opts_t *opts,
                              mida_quads_t *out, char *err, size_t errlen);

/* The graph a subject belongs to under the IRI scheme: B/graph/{W} for
 * B/workflow/{W}, IRIs under B/task/{W}/ and B/value/{W}/, and the graph
 * IRI itself; B/graph/campaign/{C} for B/campaign/{C}; MIDA_ENOTFOUND for any other
 * subject (shared data, programs, agents).  Resets `out`. */
MIDA_EXPORT int mida_prov_graph_of(const char *base, const char *subject, mida_buf_t *out);

#endif
