with source as (

    select * from {{ source('polymarket', 'markets') }}

),

renamed as (

    select
        condition_id,
        market_id,
        question,
        slug,
        gamma_category,
        event_slug,
        start_ts as started_at_unix,
        end_ts as end_date_unix,
        closed as is_closed,
        closed_ts as closed_at_unix,
        {{ unix_to_timestamp('closed_ts') }} as closed_at,
        uma_resolution_status,
        (closed and uma_resolution_status = 'resolved') as is_resolved,
        protocol_version,
        neg_risk as is_neg_risk,
        tick_size,
        min_order_size,
        liquidity as liquidity_usd,
        volume as volume_usd,
        ingested_at

    from source

)

select * from renamed
