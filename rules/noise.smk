# Label-noise injection and dataset shaping: the view (examples + labels) each run trains on.


rule view:
    input:
        one_line_errors(lambda wildcards: prepared_path(lookup_view(wildcards)["dataset"])),
    output:
        npz="results/{scale}/views/{view_id}.npz",
        summary="results/{scale}/views/{view_id}.json",
    conda:
        ENV
    log:
        "results/{scale}/logs/view/{view_id}.log",
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        spec=lambda wildcards: json.dumps(VIEWS[wildcards.view_id], sort_keys=True),
    shell:
        "python -m robustrepro view --spec {params.spec:q} --data {input:q} "
        "--out {output.npz:q} --summary {output.summary:q} > {log:q} 2>&1"
