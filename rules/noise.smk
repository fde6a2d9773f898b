# Label-noise injection and dataset shaping: the view (examples + labels) each run trains on.
from robustrepro import noise as rr_noise


@one_line_errors
def view_inputs(wildcards):
    """The prepared file a view is made from. Before a build may replace the view, a damaged one, or one
    whose record does not fit its spec or that file, is moved aside so that it is rebuilt (an older
    robustrepro's is recorded in place where it is the same view: robustrepro.noise.vet_view). A dry
    run changes no file."""
    spec = PIPELINE.view(wildcards.scale, wildcards.view_id)
    data = prepared_path(spec["dataset"])
    if not workflow.dryrun and (note := rr_noise.vet_view(paths.view(wildcards.scale, wildcards.view_id), spec, data)):
        print(f"robustrepro: {note}", file=sys.stderr)
    return data


rule view:
    input:
        view_inputs,
    output:
        npz=paths.view("{scale}", "{view_id}"),
        summary=paths.view_summary("{scale}", "{view_id}"),
    conda:
        ENV
    log:
        paths.log("{scale}", "view", "{view_id}"),
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        spec=lambda wildcards: json.dumps(PIPELINE.view(wildcards.scale, wildcards.view_id), sort_keys=True),
    shell:
        "python -m robustrepro view --spec {params.spec:q} --data {input:q} "
        "--out {output.npz:q} --summary {output.summary:q} > {log:q} 2>&1"
